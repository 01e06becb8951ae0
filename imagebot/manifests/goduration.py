"""Go's ``time.ParseDuration`` format, which Keel's ``@every 5m`` and Flux's ``interval: 1m``
are written in: a sequence of decimal numbers with units (``300ms``, ``1.5h``, ``2h45m``);
units ``ns``, ``us``/``µs``, ``ms``, ``s``, ``m``, ``h``; no days. ``0`` alone is zero."""

from __future__ import annotations

import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PIECE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
#: Longer texts are not durations anyone writes (Go's own limit is about 290 years).
_MAX_LENGTH = 64


def parse_go_duration(text: str) -> float:
    """Seconds in *text*; ValueError naming the text when Go would refuse it."""
    body = text.strip()
    if len(body) > _MAX_LENGTH:
        raise ValueError(f"{body[:_MAX_LENGTH]!r}...: not a duration (too long)")
    sign = 1.0
    if body[:1] in "+-" and body:
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _PIECE.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        raise ValueError(f"{text!r} is not a Go duration (such as 30s, 5m or 1h30m)")
    return sign * total


__all__ = ["parse_go_duration"]
