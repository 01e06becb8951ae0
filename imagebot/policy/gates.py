"""Supply-chain gates: checks a candidate tag must pass before anything writes it (pure).

A policy picks the best tag; the gates then ask of that candidate what a person would before
deploying it, each from plain facts the registry stage gathered for candidate tags only
(:class:`TagFacts`), never from the registry itself:

- **minimum age** (``minAge``): the candidate's digest must have been known for a while. The
  clock starts when imagebot first saw the tag point at its current digest (kept in the
  store; a re-push with another digest starts it again), a moment the image's author cannot
  backdate. ``ageSource: created`` counts from the image config's ``created`` instead, which
  the author writes (``ageSource: created`` is an explicit opt-in for that reason);
- **platforms**: the candidate's index must offer every platform listed (a single-platform
  manifest offers its config's platform), and, when the reference is pinned by digest or
  platforms are required, every platform the current image offers (no platform is lost);
- **signature** (``verify``): a signature by one of the verifier's keys over this exact
  digest and this image (the verdict is gathered by :mod:`imagebot.registry.cosign`).

A gate that cannot decide (a fact is missing: the registry did not answer, the image has no
``created``, the signature could not be read) rejects the candidate. Nothing here passes a
tag by default.

Example (facts as the registry stage gathers them)::

    gates = Gates(min_age=3 * 86400, platforms=("linux/amd64", "linux/arm64"))
    report = evaluate(gates, facts, now=now)
    report.passed      # False
    report.reason      # "min age 3d: first seen 2026-12-03 14:00 UTC, waits until ..."
    report.until       # datetime when the age gate opens (None: another gate blocks)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from imagebot.errors import PolicyError

AgeSource = Literal["seen", "created"]
AGE_SOURCES: tuple[str, ...] = ("seen", "created")
GATE_NAMES = ("age", "platforms", "signature")

_PLATFORM_RE = re.compile(r"[a-z0-9_.-]+/[a-z0-9_.-]+(?:/[a-z0-9_.-]+)?")
_DURATION_PART = re.compile(r"(\d+)(w|d|h|m|s)")
_UNIT = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_age(text: str) -> int:
    """A minimum age in seconds from ``3d``, ``12h``, ``1w2d``, ``90m`` (whole units).

    Raises :class:`PolicyError` naming what is wrong; ``0`` (or ``0s``) means no minimum.
    """
    value = text.strip() if isinstance(text, str) else ""
    if value.isdigit():
        raise PolicyError(f"min age {text!r} needs a unit: write e.g. 3d, 12h or 30m")
    pos, total = 0, 0
    for match in _DURATION_PART.finditer(value):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if not value or pos != len(value):
        raise PolicyError(f"min age {text!r} is not a duration: write e.g. 3d, 12h, 1w or 90m")
    return total


def format_age(seconds: float) -> str:
    """``259200`` -> ``3d``; ``5400`` -> ``1h30m``: the largest whole units."""
    rest = int(seconds)
    if rest <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = _UNIT[unit]
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def parse_platforms(value: str | Sequence[str]) -> tuple[str, ...]:
    """``linux/amd64, linux/arm64`` (or a list) as a tuple; :class:`PolicyError` if a
    platform is not ``os/arch[/variant]``."""
    items = value.split(",") if isinstance(value, str) else list(value)
    platforms: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise PolicyError(f"platform {item!r} is not a string like linux/amd64")
        text = item.strip()
        if not _PLATFORM_RE.fullmatch(text):
            raise PolicyError(
                f"platform {text!r} is not os/arch[/variant] (e.g. linux/amd64, linux/arm/v7)"
            )
        if text not in platforms:
            platforms.append(text)
    if not platforms:
        raise PolicyError("an empty platform list: name at least one, e.g. linux/amd64")
    return tuple(platforms)


def show_time(moment: datetime) -> str:
    """``2026-12-06 14:00 UTC``: how eligibility times are written everywhere."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Gates:
    """The gates of one site: what its policy file, annotations or the config ask for."""

    #: Seconds a candidate's digest must have been known (None: no age gate).
    min_age: int | None = None
    age_source: AgeSource = "seen"
    #: Platforms every candidate must offer (empty: none required).
    platforms: tuple[str, ...] = ()
    #: A candidate must not offer fewer platforms than the current image (digest pins, and
    #: whenever platforms are required).
    keep_platforms: bool = False
    #: Name of the verifier whose keys must have signed the candidate (None: no check).
    verifier: str | None = None

    @property
    def active(self) -> bool:
        return (
            bool(self.min_age) or bool(self.platforms) or self.keep_platforms or bool(self.verifier)
        )

    @property
    def explicit(self) -> bool:
        """Gates someone asked for (not only the no-lost-platform rule of a digest pin)."""
        return bool(self.min_age) or bool(self.platforms) or bool(self.verifier)

    @property
    def needs_platforms(self) -> bool:
        return bool(self.platforms) or self.keep_platforms

    def describe(self) -> str:
        parts = []
        if self.min_age:
            source = " (from the image's created time)" if self.age_source == "created" else ""
            parts.append(f"min age {format_age(self.min_age)}{source}")
        if self.platforms:
            parts.append("platforms " + ", ".join(self.platforms))
        if self.keep_platforms:
            parts.append("no platform of the current image lost")
        if self.verifier:
            parts.append(f"signed ({self.verifier})")
        return "; ".join(parts) or "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_age": format_age(self.min_age) if self.min_age else None,
            "age_source": self.age_source,
            "platforms": list(self.platforms),
            "keep_platforms": self.keep_platforms,
            "verify": self.verifier,
        }


@dataclass(frozen=True)
class SignatureFact:
    """What the signature check found for one digest: ``valid`` with the key that signed,
    or not with why (unsigned, signature does not match, could not be read)."""

    valid: bool
    detail: str
    signer: str | None = None


@dataclass(frozen=True)
class TagFacts:
    """What the registry stage learned about one candidate tag (None: not asked or unknown).

    ``error`` is set when the facts could not be gathered at all (a registry error): every
    gate then rejects.
    """

    tag: str
    digest: str | None = None
    first_seen: datetime | None = None
    created: datetime | None = None
    platforms: tuple[str, ...] = ()
    signature: SignatureFact | None = None
    error: str | None = None


@dataclass(frozen=True)
class GateCheck:
    """One gate's verdict on one tag; ``until`` is when an age gate opens."""

    gate: str  # age | platforms | signature
    passed: bool
    detail: str
    until: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "detail": self.detail,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass(frozen=True)
class GateReport:
    """Every gate's verdict on one tag."""

    tag: str
    digest: str | None
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def until(self) -> datetime | None:
        """When the tag becomes eligible, if only its age holds it back."""
        failed = [c for c in self.checks if not c.passed]
        if failed and all(c.until is not None for c in failed):
            return max(c.until for c in failed if c.until is not None)
        return None

    @property
    def reason(self) -> str:
        failed = [c for c in self.checks if not c.passed]
        if not failed:
            return "passes every gate"
        return "; ".join(c.detail for c in failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "digest": self.digest,
            "passed": self.passed,
            "until": self.until.isoformat() if self.until else None,
            "checks": [c.to_dict() for c in self.checks],
        }


def evaluate(
    gates: Gates,
    facts: TagFacts,
    *,
    now: datetime,
    current_platforms: Sequence[str] | None = None,
    current: str | None = None,
) -> GateReport:
    """Every active gate's verdict on *facts* at *now*.

    *current_platforms* are the platforms the running image offers (None: the image is no
    longer in the registry, so no platform can be compared); *current* names it in reasons.
    """
    checks: list[GateCheck] = []
    if gates.min_age:
        checks.append(_age(gates, facts, now))
    if gates.needs_platforms:
        checks.append(_platforms(gates, facts, current_platforms, current))
    if gates.verifier:
        checks.append(_signature(gates, facts))
    return GateReport(facts.tag, facts.digest, checks)


def _age(gates: Gates, facts: TagFacts, now: datetime) -> GateCheck:
    assert gates.min_age
    need = format_age(gates.min_age)
    if facts.error:
        return GateCheck("age", False, f"min age {need}: cannot decide ({facts.error})")
    if gates.age_source == "created":
        start, what = facts.created, "built"
        if start is None:
            return GateCheck(
                "age", False, f"min age {need}: cannot decide (the image has no created time)"
            )
    else:
        start, what = facts.first_seen, "first seen"
        if start is None:
            return GateCheck(
                "age", False, f"min age {need}: cannot decide (its digest was never recorded)"
            )
    until = start + timedelta(seconds=gates.min_age)
    if until <= now:
        return GateCheck("age", True, f"{what} {show_time(start)}, older than {need}")
    return GateCheck(
        "age",
        False,
        f"min age {need}: {what} {show_time(start)}, waits until {show_time(until)}",
        until,
    )


def _platforms(
    gates: Gates, facts: TagFacts, current_platforms: Sequence[str] | None, current: str | None
) -> GateCheck:
    if facts.error:
        return GateCheck("platforms", False, f"platforms: cannot decide ({facts.error})")
    offered = {_normal(p) for p in facts.platforms}
    if not offered and (gates.platforms or current_platforms):
        return GateCheck(
            "platforms", False, "platforms: cannot decide (the image names no platform)"
        )
    if not offered:
        return GateCheck("platforms", True, "names no platform, nor does the current image")
    missing = [p for p in gates.platforms if _normal(p) not in offered]
    if missing:
        return GateCheck("platforms", False, "platforms: lacks " + ", ".join(missing))
    shown = ", ".join(facts.platforms)
    if gates.keep_platforms and current_platforms is None:
        # The current image is gone from the registry (a registry that fails never gets
        # here: its error holds the candidate): nothing to compare against.
        return GateCheck(
            "platforms", True, f"offers {shown} (the current image is not in the registry)"
        )
    if gates.keep_platforms and current_platforms is not None:
        lost = [p for p in current_platforms if _normal(p) not in offered]
        if lost:
            running = f"the current image {current}" if current else "the current image"
            return GateCheck(
                "platforms", False, f"platforms: loses {', '.join(lost)} ({running} offers it)"
            )
    return GateCheck("platforms", True, f"offers {shown}")


#: Variants that name the architecture's default, as containerd normalises them.
_DEFAULT_VARIANTS = {"arm64": "v8", "amd64": "v1"}


def _normal(platform: str) -> str:
    """``linux/arm64/v8`` is ``linux/arm64`` (and ``linux/amd64/v1`` ``linux/amd64``)."""
    parts = platform.split("/")
    if len(parts) == 3 and _DEFAULT_VARIANTS.get(parts[1]) == parts[2]:
        return f"{parts[0]}/{parts[1]}"
    return platform


def _signature(gates: Gates, facts: TagFacts) -> GateCheck:
    if facts.error:
        return GateCheck("signature", False, f"signature: cannot decide ({facts.error})")
    verdict = facts.signature
    if verdict is None:
        return GateCheck("signature", False, "signature: cannot decide (not checked)")
    if verdict.valid:
        return GateCheck("signature", True, verdict.detail)
    detail = verdict.detail
    return GateCheck(
        "signature", False, detail if detail.startswith("signature") else f"signature: {detail}"
    )
