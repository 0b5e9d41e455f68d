"""Running wrk pinned to its core and reading its report."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from bench.errors import BenchError

__all__ = ["WrkResult", "parse_wrk_output", "run_wrk"]

_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class WrkResult:
    """The numbers of one wrk run.

    Attributes:
        requests: completed requests.
        seconds: how long wrk measured (its own clock).
        requests_per_second: wrk's ``Requests/sec``.
        errors: socket errors (connect + read + write + timeout).
        non_2xx: responses that were not 2xx or 3xx.
        latency_p50_ms / latency_p99_ms: latency percentiles (from ``--latency``).
    """

    requests: int
    seconds: float
    requests_per_second: float
    errors: int
    non_2xx: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None


def _seconds(value: str, unit: str) -> float:
    return float(value) * _DURATION_UNITS[unit]


def parse_wrk_output(text: str) -> WrkResult:
    """Read the numbers out of wrk's report.

    Raises:
        BenchError: the text is not a wrk report (the message quotes it).
    """
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", text, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.MULTILINE)
    if total is None or rate is None:
        raise BenchError(f"wrk printed no request count; its output was:\n{text.strip()}")
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket_errors:
        errors = sum(int(group) for group in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    percentiles = {
        match[1]: _seconds(match[2], match[3]) * 1000
        for match in re.finditer(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)", text, re.MULTILINE)
    }
    return WrkResult(
        requests=int(total[1]),
        seconds=_seconds(total[2], total[3]),
        requests_per_second=float(rate[1]),
        errors=errors,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        latency_p50_ms=percentiles.get("50"),
        latency_p99_ms=percentiles.get("99"),
    )


def run_wrk(
    url: str,
    *,
    seconds: float,
    connections: int,
    core: int | None,
    wrk: str = "wrk",
    script: str | None = None,
    expect_non_2xx: bool = False,
) -> WrkResult:
    """Load ``url`` for ``seconds`` with one wrk thread and ``connections`` connections.

    Args:
        script: a wrk Lua script (``-s``), e.g. one setting ``wrk.method`` and ``wrk.body``.
        expect_non_2xx: every answer must be non-2xx (a validation-error scenario);
            otherwise any non-2xx answer fails the run.

    Raises:
        BenchError: wrk failed, hung, or reported errors or unexpected answers.
    """
    duration = max(1, round(seconds))
    # --timeout 10s: a slow peer's queue of 64 requests can exceed wrk's 2 s default
    # without the server failing; a real stall still shows up as a timeout error.
    command = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "--latency"]
    if script is not None:
        command += ["-s", script]
    command.append(url)
    if core is not None:
        command = ["taskset", "-c", str(core), *command]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 30, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"wrk did not finish within {duration + 30}s: {' '.join(command)}"
        ) from None
    if result.returncode != 0:
        raise BenchError(
            f"wrk exited with {result.returncode}: {' '.join(command)}\n{result.stderr.strip()}"
        )
    parsed = parse_wrk_output(result.stdout)
    if expect_non_2xx:
        if parsed.errors or parsed.non_2xx != parsed.requests:
            raise BenchError(
                f"wrk saw {parsed.errors} socket errors and {parsed.non_2xx} non-2xx answers of "
                f"{parsed.requests} from {url}, where every answer should be an error status."
                f"\n{result.stdout.strip()}"
            )
    elif parsed.errors or parsed.non_2xx:
        raise BenchError(
            f"wrk saw {parsed.errors} socket errors and {parsed.non_2xx} non-2xx answers from "
            f"{url}: the server is failing under load, so its numbers mean nothing.\n"
            f"{result.stdout.strip()}"
        )
    if parsed.requests == 0:
        raise BenchError(f"wrk completed no request against {url}:\n{result.stdout.strip()}")
    return parsed
