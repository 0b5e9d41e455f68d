"""PNG bar charts of a suite run; runs in ``bench/.venvs/charts`` (matplotlib).

    bench/.venvs/charts/bin/python bench/charts.py bench/results/suite-<stamp>.json bench/charts

Reads the run's JSON (with its ``summary``) and writes one chart per main HTTP
scenario (server CPU µs per request per implementation, Stellate highlighted, the
ratio to Stellate on each bar) and one of the ORM micro-benchmarks; prints the paths.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SCENARIOS = {
    "plain": "plain JSON",
    "params": "path + query validation",
    "get": "one row by primary key",
    "list": "list of 20, two joins, tags, cursor",
    "create": "create with body validation",
}
STELLATE = "#d9480f"
OTHERS = "#868e96"


def _bars(
    title: str, labels: list[str], values: list[float], notes: list[str], path: Path, unit: str
) -> None:
    figure, axes = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.4))
    colors = [STELLATE if label.startswith("stellate") else OTHERS for label in labels]
    positions = range(len(labels))
    axes.barh(list(positions), values, color=colors)
    axes.set_yticks(list(positions), labels)
    axes.invert_yaxis()
    axes.set_xlabel(unit)
    axes.set_title(title, fontsize=11)
    for position, value, note in zip(positions, values, notes, strict=True):
        axes.text(value, position, f" {value:,.0f} {note}", va="center", fontsize=8)
    axes.set_xlim(0, max(values) * 1.35)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def draw(results: dict[str, Any], directory: Path) -> list[Path]:
    """Write the charts of ``results`` into ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    summary = results["summary"]
    written = []
    for scenario, title in SCENARIOS.items():
        rows = summary["http"].get(scenario)
        if not rows:
            continue
        ordered = sorted(rows.items(), key=lambda item: item[1]["cpu"]["median"])
        path = directory / f"http-{scenario}.png"
        _bars(
            f"{title}: server CPU per request (lower is better)",
            [name for name, _ in ordered],
            [row["cpu"]["median"] for _, row in ordered],
            [f"({row.get('cpu_ratio', 0):.2f}x Stellate's)" for _, row in ordered],
            path,
            "CPU µs per request, median over rounds (in brackets: ÷ Stellate's)",
        )
        written.append(path)
    orm = summary.get("orm", {})
    mine = orm.get("stellate-orm", {})
    for scenario in ("fetch_1000", "get_pk", "bulk_insert_10000", "m2m_prefetch"):
        rows = {name: data[scenario] for name, data in orm.items() if scenario in data}
        if not rows or scenario not in mine:
            continue
        ordered = sorted(rows.items(), key=lambda item: item[1]["median"])
        path = directory / f"orm-{scenario}.png"
        _bars(
            f"ORM {scenario}: client CPU per operation (lower is better)",
            [name for name, _ in ordered],
            [stats["median"] for _, stats in ordered],
            [
                f"({stats['median'] / mine[scenario]['median']:.2f}x stellate-orm)"
                for _, stats in ordered
            ],
            path,
            "CPU µs per operation, median",
        )
        written.append(path)
    return written


if __name__ == "__main__":
    for chart in draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])):
        print(chart)
