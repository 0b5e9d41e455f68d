"""Cron schedules: five-field crontab strings turned into arq's cron fields."""

from __future__ import annotations

import msgspec

__all__ = ["CronSchedule", "parse_cron"]


class CronSchedule(msgspec.Struct, frozen=True, kw_only=True):
    """When a periodic task runs; ``None`` for a field means "any".

    ``weekday`` uses Python's numbering (0 = Monday ... 6 = Sunday). When both
    ``day`` and ``weekday`` are set, both must match (arq's rule; classic cron
    runs when either matches).
    """

    month: frozenset[int] | None = None
    day: frozenset[int] | None = None
    weekday: frozenset[int] | None = None
    hour: frozenset[int] | None = None
    minute: frozenset[int] | None = None
    second: frozenset[int] | None = frozenset({0})
    run_at_startup: bool = False


_MONTHS = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}
_DAYS = {
    name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
}

# (name, lowest, highest, names) of the five crontab fields, in order.
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("weekday", 0, 7, _DAYS),
)


def parse_cron(expression: str) -> CronSchedule:
    """Parse a five-field crontab (``"*/5 * * * *"``).

    Each field takes ``*``, a number, a range ``a-b``, a step ``*/n`` or ``a-b/n``, and
    comma-separated lists of these; months and weekdays also take names (``jan``,
    ``mon``). Day of week counts 0 (or 7) = Sunday, as in crontab.

    Raises:
        ValueError: naming the field and the bad part, with the allowed range.
    """
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(
            f"Cron expression `{expression}` has {len(parts)} fields; it needs 5: "
            "minute hour day-of-month month day-of-week (e.g. `*/5 * * * *`)"
        )
    values: dict[str, frozenset[int] | None] = {}
    for text, (name, low, high, names) in zip(parts, _FIELDS, strict=True):
        values[name] = _parse_field(expression, name, text, low, high, names)
    weekday = values["weekday"]
    if weekday is not None:
        # crontab: 0/7 = Sunday; arq (Python): 0 = Monday ... 6 = Sunday.
        values["weekday"] = frozenset((day - 1) % 7 for day in weekday)
    return CronSchedule(
        minute=values["minute"],
        hour=values["hour"],
        day=values["day"],
        month=values["month"],
        weekday=values["weekday"],
    )


def _parse_field(
    expression: str, name: str, text: str, low: int, high: int, names: dict[str, int]
) -> frozenset[int] | None:
    if text == "*":
        return None
    found: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            step = _number(expression, name, step_text, names)
            if step < 1:
                raise ValueError(
                    f"Cron field `{name}` of `{expression}`: step `{step_text}` must be >= 1"
                )
        if base == "*":
            start, stop = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _number(expression, name, first, names)
            stop = _number(expression, name, last, names)
        else:
            start = _number(expression, name, base, names)
            stop = high if step_text else start
        for value in (start, stop):
            if not low <= value <= high:
                raise ValueError(
                    f"Cron field `{name}` of `{expression}`: `{value}` is out of range {low}-{high}"
                )
        if start > stop:
            raise ValueError(
                f"Cron field `{name}` of `{expression}`: range `{base}` runs backwards"
            )
        found.update(range(start, stop + 1, step))
    return frozenset(found)


def _number(expression: str, name: str, text: str, names: dict[str, int]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    try:
        return int(text)
    except ValueError:
        hint = f" or a name ({', '.join(names)})" if names else ""
        raise ValueError(
            f"Cron field `{name}` of `{expression}`: `{text}` is not a number{hint}"
        ) from None
