"""Summaries, target verdicts and ``bench/RESULTS.md`` of a ``python -m bench suite`` run.

Every ratio is Stellate against the other implementation in the same run:

- **CPU x** = the other's median server CPU µs per request ÷ Stellate's (the primary
  figure; > 1 means Stellate needs less CPU per request, so it serves that many
  times more requests per core);
- **req/s x** = Stellate's median requests/s ÷ the other's (beside it; noisier on a
  shared machine).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "TARGETS",
    "admin_section",
    "admin_summary",
    "markdown",
    "summarise",
    "verdicts",
    "write_results",
]

#: (section, scenario, peer, minimum CPU ratio): the HTTP targets of issue 9.
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("plain JSON", "plain", "handwritten", 0.90),
    ("plain JSON", "plain", "fastapi", 2.0),
    ("plain JSON", "plain", "litestar", 1.25),
    ("plain JSON", "plain", "django-asgi", 10.0),
    ("DB list", "list", "handwritten", 0.75),
    ("DB list", "list", "fastapi", 4.0),
    ("DB list", "list", "django", 3.0),
)


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Medians, ranges and ratios to Stellate for every measured figure."""
    summary: dict[str, Any] = {"http": {}, "spawn": {}, "orm": {}, "tasks": {}}
    http = results.get("http", {})
    for name, runs in http.items():
        spawn = [run["spawn"]["ms"] for run in runs if "spawn" in run]
        if spawn:
            summary["spawn"][name] = _stats(spawn)
        for run in runs:
            for scenario in run:
                if scenario == "spawn":
                    continue
                row = summary["http"].setdefault(scenario, {}).setdefault(name, {})
                row.setdefault("cpu", []).append(run[scenario]["cpu_us_per_request"])
                row.setdefault("rps", []).append(run[scenario]["rps"])
                row.setdefault("others", []).append(run[scenario]["others_core_share"])
    for rows in summary["http"].values():
        for row in rows.values():
            for key in ("cpu", "rps", "others"):
                row[key] = _stats(row[key])
        mine = rows.get("stellate")
        for row in rows.values():
            if mine is None:
                continue
            row["cpu_ratio"] = row["cpu"]["median"] / mine["cpu"]["median"]
            row["rps_ratio"] = mine["rps"]["median"] / row["rps"]["median"]
    for name, data in results.get("orm", {}).items():
        summary["orm"][name] = {
            scenario: _stats(values) for scenario, values in data["cpu_us"].items() if values
        }
    for name, values in results.get("tasks", {}).items():
        summary["tasks"][name] = _stats(values)
    return summary


def _check(label: str, value: float | None, sense: str, target: float) -> dict[str, Any]:
    if value is None:
        return {"label": label, "value": None, "target": f"{sense} {target:g}", "met": None}
    met = value >= target if sense == ">=" else value <= target
    return {"label": label, "value": value, "target": f"{sense} {target:g}", "met": met}


def verdicts(summary: dict[str, Any], results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 9: its measured ratio and whether it is met."""
    out = []
    for section, scenario, peer, target in TARGETS:
        row = summary["http"].get(scenario, {}).get(peer)
        value = row.get("cpu_ratio") if row else None
        out.append(_check(f"{section}: Stellate vs {peer} (CPU x)", value, ">=", target))
    orm = summary["orm"]
    mine = orm.get("stellate-orm", {})
    raw = orm.get("asyncpg", {})
    for scenario, target in (("fetch_1000", 1.5), ("get_pk", 1.3)):
        value = (
            mine[scenario]["median"] / raw[scenario]["median"]
            if scenario in mine and scenario in raw
            else None
        )
        out.append(_check(f"ORM {scenario}: stellate-orm CPU ÷ raw asyncpg", value, "<=", target))
    if "fetch_1000" in mine:
        peers = [
            data["fetch_1000"]["median"]
            for name, data in orm.items()
            if name not in ("stellate-orm", "asyncpg") and "fetch_1000" in data
        ]
        value = min(peers) / mine["fetch_1000"]["median"] if peers else None
        out.append(
            _check("ORM fetch_1000: fastest peer ORM CPU ÷ stellate-orm", value, ">", 1.0)
            | ({"met": value > 1.0} if value is not None else {})
        )
    spawn = summary["spawn"]
    if "stellate" in spawn and "handwritten" in spawn:
        value = spawn["stellate"]["median"] / spawn["handwritten"]["median"]
    else:
        value = None
    out.append(
        _check("cold start: Stellate (4 plugins) ÷ Starlette+asyncpg spawn time", value, "<=", 1.2)
    )
    tasks = summary["tasks"]
    for peer, target in (("drain arq tuned", 0.9), ("drain arq defaults", 7.0)):
        value = (
            tasks["drain stellate"]["median"] / tasks[peer]["median"]
            if "drain stellate" in tasks and peer in tasks
            else None
        )
        out.append(_check(f"tasks: Stellate worker drain ÷ {peer}", value, ">=", target))
    admin = admin_summary(results)
    if admin is not None:
        out.append(
            _check(
                "admin change list: Stellate vs Django admin (CPU x)", admin["cpu_ratio"], ">=", 2.0
            )
        )
    else:
        out.append(
            {
                "label": "admin change list vs Django admin (≥ 2x)",
                "value": None,
                "target": ">= 2",
                "met": None,
                "note": results.get("admin", "pending"),
            }
        )
    return out


def admin_summary(results: dict[str, Any]) -> dict[str, Any] | None:
    """Medians and ratios of the ``admin`` scenario (None when it was not measured)."""
    admin = results.get("admin")
    if not isinstance(admin, dict):
        return None
    samples = admin.get("samples", {})
    if not samples.get("stellate") or not samples.get("django"):
        return None
    found: dict[str, Any] = {}
    for name, runs in samples.items():
        found[name] = {
            "cpu": _stats([run["cpu_us_per_request"] for run in runs]),
            "rps": _stats([run["rps"] for run in runs]),
            "others": _stats([run["others_core_share"] for run in runs]),
        }
    mine = found["stellate"]
    return {
        "rows": found,
        "cpu_ratio": found["django"]["cpu"]["median"] / mine["cpu"]["median"],
        "rps_ratio": mine["rps"]["median"] / found["django"]["rps"]["median"],
    }


def admin_section(results: dict[str, Any]) -> list[str]:
    """The ``## Admin change list vs Django admin`` section of RESULTS.md."""
    lines = ["", "## Admin change list vs Django admin", ""]
    summary = admin_summary(results)
    admin = results.get("admin", "pending")
    if summary is None:
        return [*lines, admin if isinstance(admin, str) else "not measured in this run"]
    lines += [
        f"A logged-in superuser's change list of {admin['rows']} books (title, author, "
        "publisher, price, rating, created; the same filters, search and ordering), "
        "checked to list the same titles in the same order in both before timing. "
        "Paths: " + ", ".join(f"{name} `{path}`" for name, path in admin["path"].items()) + ".",
        "",
        "| implementation | stack | CPU µs/req | req/s | others on server core | CPU x | req/s x |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in summary["rows"].items():
        ratios = (
            "1.00x | 1.00x"
            if name == "stellate"
            else f"{summary['cpu_ratio']:.2f}x | {summary['rps_ratio']:.2f}x"
        )
        lines.append(
            f"| {name} | {admin['stack'][name]} | {_fmt(row['cpu'], ',.0f')} | "
            f"{_fmt(row['rps'], ',.0f')} | {row['others']['median']:.0%} | {ratios} |"
        )
    return lines


def _fmt(stats: dict[str, float], spec: str) -> str:
    return f"{stats['median']:{spec}} ({stats['min']:{spec}}-{stats['max']:{spec}})"


def _versions(results: dict[str, Any]) -> list[str]:
    lines = []
    for label, found in results.get("versions", {}).items():
        listed = ", ".join(f"{name} {version}" for name, version in found.items())
        lines.append(f"- {label}: {listed}")
    return lines


def markdown(results: dict[str, Any], charts: Sequence[str] = ()) -> str:
    """The whole ``bench/RESULTS.md`` of one run."""
    summary = summarise(results)
    options = results["options"]
    machine = results["machine"]
    lines = [
        "# Benchmark results: Stellate side by side with its peers",
        "",
        "Written by `python -m bench suite` (how to run and read it: [README.md](README.md)). "
        "Every ratio is Stellate against the other implementation **in the same run on the "
        "same machine**. **CPU x** = the other's server CPU µs per request ÷ Stellate's "
        "(primary figure; > 1: Stellate needs less CPU per request); **req/s x** = "
        "Stellate's requests/s ÷ the other's.",
        "",
        f"- date: {results['started']} → {results.get('finished', '?')} (UTC)"
        + (" — **quick mode** (1 round, 1 s warm-up + 2 s per scenario, 16 connections: "
           "a smoke test, not a measurement)"
           if options.get("quick") else ""),
        f"- machine: {machine.get('cpu')}, {machine.get('cores')} cores, Linux "
        f"{machine.get('kernel')}; load average at the start "
        f"{', '.join(f'{v:.2f}' for v in machine.get('load_average', []))}, at the end "
        f"{', '.join(f'{v:.2f}' for v in machine.get('load_average_end', []))}",
        f"- servers: one worker each, uvicorn `--loop {results['server']['loop']} --http "
        f"{results['server']['http']} --no-access-log` (Django: gunicorn 1 sync worker, "
        "and uvicorn with `--lifespan off` as `django-asgi`; `@granian`: granian 1 worker, "
        "1 runtime thread), pinned to core "
        f"{options['server_core']}, a fresh server per round, order rotated each round",
        f"- load: wrk 1 thread, {options['connections']} connections, pinned to core "
        f"{options['wrk_core']}; {options['warmup']:g} s warm-up + {options['seconds']:g} s "
        f"measured per scenario; {options['rounds']} round(s); medians (min-max) over rounds",
        "- data: the bookstore schema, 1,000 books with two tags each, 50 authors, "
        "10 publishers (bench/peers/dataset.py); created authors deleted after each run; "
        "the database has `synchronous_commit = off` (commits do not wait for the disk)",
        "- answers: before timing, every implementation's JSON was checked equal to "
        "Stellate's (timestamps as instants, prices as decimals, tags by id, the `next` "
        "cursor as present/absent, the created id, error bodies and OpenAPI contents "
        "excepted: see `normalise` in bench/suite_http.py)",
    ]  # fmt: skip
    lines += _versions(results)
    if results.get("skipped"):
        for venv, reason in results["skipped"].items():
            lines.append(f"- **skipped** `{venv}`: {reason}")
    lines += ["", "## Targets (issue 9)", "", "| target | measured | wanted | verdict |"]
    lines.append("| --- | ---: | ---: | --- |")
    for check in verdicts(summary, results):
        value = "—" if check["value"] is None else f"{check['value']:.2f}x"
        verdict = {True: "met", False: "**MISSED**", None: "not measured"}[check["met"]]
        if check.get("note"):
            verdict = check["note"]
        lines.append(f"| {check['label']} | {value} | {check['target']} | {verdict} |")
    lines += ["", "## HTTP scenarios", ""]
    stacks = results.get("implementations", {})
    lines += [f"- `{name}`: {info['stack']}" for name, info in stacks.items()]
    for scenario, rows in summary["http"].items():
        lines += [
            "",
            f"### {scenario}",
            "",
            "| implementation | server CPU µs/req | CPU x (Stellate vs it) | req/s | "
            "req/s x | others' use of the server core |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, row in sorted(rows.items(), key=lambda item: item[1]["cpu"]["median"]):
            lines.append(
                f"| {name} | {_fmt(row['cpu'], ',.1f')} | **{row.get('cpu_ratio', 0):.2f}x** "
                f"| {_fmt(row['rps'], ',.0f')} | {row.get('rps_ratio', 0):.2f}x "
                f"| {row['others']['median']:.0%} |"
            )
    lines += _granian(summary)
    if summary["spawn"]:
        lines += ["", "### spawn → first 200 (ms)", "", "| implementation | ms |", "| --- | ---: |"]
        for name, stats in sorted(summary["spawn"].items(), key=lambda item: item[1]["median"]):
            lines.append(f"| {name} | {_fmt(stats, ',.0f')} |")
    lines += _orm_section(summary, results)
    if summary["tasks"]:
        lines += ["", "## Tasks: Stellate vs arq (jobs/s, same Redis)", ""]
        lines += ["| measure | jobs/s | Stellate x |", "| --- | ---: | ---: |"]
        tasks = summary["tasks"]
        for name, stats in tasks.items():
            mine = "enqueue stellate" if name.startswith("enqueue") else "drain stellate"
            ratio = tasks[mine]["median"] / stats["median"]
            lines.append(f"| {name} | {_fmt(stats, ',.0f')} | {ratio:.2f}x |")
    lines += admin_section(results)
    if charts:
        lines += ["", "## Charts", ""]
        lines += [f"![{Path(chart).stem}](charts/{Path(chart).name})" for chart in charts]
    return "\n".join(lines) + "\n"


def _granian(summary: dict[str, Any]) -> list[str]:
    lines = ["", "### granian instead of uvicorn", ""]
    lines += [
        "| implementation | scenario | CPU µs/req uvicorn → granian | req/s uvicorn → granian |"
    ]
    lines += ["| --- | --- | ---: | ---: |"]
    found = False
    for scenario, rows in summary["http"].items():
        for name, row in rows.items():
            if not name.endswith("@granian"):
                continue
            base = rows.get(name.split("@")[0])
            if base is None:
                continue
            found = True
            change = base["cpu"]["median"] / row["cpu"]["median"]
            lines.append(
                f"| {name.split('@')[0]} | {scenario} | {base['cpu']['median']:,.1f} → "
                f"{row['cpu']['median']:,.1f} ({change:.2f}x) "
                f"| {base['rps']['median']:,.0f} → {row['rps']['median']:,.0f} "
                f"({row['rps']['median'] / base['rps']['median']:.2f}x) |"
            )
    return lines if found else []


def _orm_section(summary: dict[str, Any], results: dict[str, Any]) -> list[str]:
    orm = summary["orm"]
    if not orm:
        return []
    scenarios = ("fetch_1000", "get_pk", "bulk_insert_10000", "m2m_prefetch")
    lines = [
        "",
        "## ORM micro-benchmarks (client CPU µs per operation, in process)",
        "",
        "Each ORM in its own venv as a subprocess; `time.process_time` around repeated "
        "calls (Django's ORM is synchronous and is called synchronously). Raw asyncpg "
        "holds one connection (no pool) and bulk-inserts with COPY; the ORMs use their "
        "pools and their own bulk insert. "
        "Stellate x = the ORM's CPU ÷ stellate-orm's.",
        "",
        "| ORM | " + " | ".join(scenarios) + " |",
        "| --- | " + " | ".join("---:" for _ in scenarios) + " |",
    ]
    mine = orm.get("stellate-orm", {})
    for name, data in orm.items():
        cells = []
        for scenario in scenarios:
            if scenario not in data:
                cells.append("—")
                continue
            ratio = (
                f" ({data[scenario]['median'] / mine[scenario]['median']:.2f}x)"
                if scenario in mine
                else ""
            )
            cells.append(f"{data[scenario]['median']:,.0f}{ratio}")
        versions = results["orm"][name].get("versions", {})
        label = f"{name} ({', '.join(f'{k} {v}' for k, v in versions.items())})"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def write_results(
    results: dict[str, Any],
    results_dir: Path,
    markdown_path: Path | None,
    charts: Sequence[str] = (),
) -> Path:
    """Save every sample as JSON and, when asked, the Markdown report; returns the JSON path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = results["started"].replace(":", "").replace("-", "").split("+")[0]
    path = results_dir / f"suite-{stamp}.json"
    results = {**results, "summary": summarise(results)}
    path.write_text(json.dumps(results, indent=2, default=str))
    if markdown_path is not None:
        markdown_path.write_text(markdown(results, charts))
    return path
