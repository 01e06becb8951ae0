"""Times for people: ``3 days ago``, shared by the command line and the web view."""

from __future__ import annotations

from datetime import UTC, datetime


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """``3 days ago``, ``just now``, ``in 2 hours`` (a clock ahead); ``-`` when unknown."""
    if moment is None:
        return "-"
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = (now - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        return "just now"
    for unit, size in (
        ("year", 365 * 86400),
        ("month", 30 * 86400),
        ("week", 7 * 86400),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if seconds >= size:
            count = int(seconds // size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"  # pragma: no cover - the loop always returns for seconds >= 60
