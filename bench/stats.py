"""Summaries of repeated measurements and their ratios to the baseline."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Summary", "core_busy_seconds", "paired_ratios", "summarize"]

_CLOCK_TICKS_PER_SECOND = float(os.sysconf("SC_CLK_TCK"))  # /proc/stat counts USER_HZ ticks


@dataclass(frozen=True)
class Summary:
    """Median and range of one quantity over the repetitions."""

    median: float
    low: float
    high: float
    count: int

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.count}


def summarize(values: Sequence[float]) -> Summary:
    """Median, minimum and maximum of ``values``.

    Raises:
        ValueError: ``values`` is empty.
    """
    if not values:
        raise ValueError("cannot summarize no measurements")
    return Summary(statistics.median(values), min(values), max(values), len(values))


def paired_ratios(values: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """``values[i] / baseline[i]`` for measurements taken in the same repetition.

    Pairing cancels slow drifts of a shared machine (another job starting, CPU
    frequency) that a ratio of medians would mix into the result.
    """
    return [value / base for value, base in zip(values, baseline, strict=True) if base]


def core_busy_seconds(cores: Sequence[int]) -> dict[int, float]:
    """Seconds each of ``cores`` spent busy (not idle, not waiting on I/O) since boot."""
    busy: dict[int, float] = {}
    wanted = {f"cpu{core}": core for core in cores}
    for line in Path("/proc/stat").read_text().splitlines():
        name, _, rest = line.partition(" ")
        if name in wanted:
            # user nice system idle iowait irq softirq steal guest guest_nice
            ticks = [int(value) for value in rest.split()]
            busy_ticks = sum(ticks[:8]) - ticks[3] - ticks[4]
            busy[wanted[name]] = busy_ticks / _CLOCK_TICKS_PER_SECOND
    return busy
