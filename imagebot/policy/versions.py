"""Semantic versions as the ``semver`` policy reads tags.

A tag is a version when it is an optional ``v``, one to three dot-separated numbers, an
optional ``-prerelease`` and an optional ``+build`` -- what Masterminds/semver's
``NewVersion`` accepts and Flux and Argo CD Image Updater therefore use. Missing numbers are
zeros (``1.2`` is ``1.2.0``); ``1.0.0.1`` and ``1.0.0p`` are not versions. Precedence follows
semver 2.0: numbers, then a prerelease sorts below its release, identifiers compare
numerically when numeric and by ASCII otherwise, numeric below alphanumeric, fewer
identifiers below more. Build metadata never counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION_RE = re.compile(
    r"(?P<v>v?)(?P<major>[0-9]+)(?:\.(?P<minor>[0-9]+))?(?:\.(?P<patch>[0-9]+))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,
)

#: A precedence key: (major, minor, patch, prerelease rank). Comparable with ``<``.
Precedence = tuple[int, int, int, tuple[object, ...]]


def prerelease_valid(prerelease: str) -> bool:
    """Semver forbids leading zeros in numeric prerelease identifiers (``1.0.0-01``)."""
    return all(not (p.isdigit() and len(p) > 1 and p[0] == "0") for p in prerelease.split("."))


def prerelease_rank(prerelease: str) -> tuple[object, ...]:
    """Sort key of a prerelease; a release (``""``) ranks above every prerelease."""
    if not prerelease:
        return (1,)
    idents: list[tuple[int, object]] = []
    for part in prerelease.split("."):
        idents.append((0, int(part)) if part.isdigit() else (1, part))
    return (0, tuple(idents))


@dataclass(frozen=True)
class Version:
    """A parsed version; ``parts`` says how many numbers were written (``1.10`` has 2)."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""
    build: str = ""
    parts: int = 3
    v_prefix: bool = False
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Version | None:
        """The version *text* spells, or None when it is not a version."""
        match = VERSION_RE.fullmatch(text)
        if match is None:
            return None
        pre = match["pre"] or ""
        if pre and not prerelease_valid(pre):
            return None
        numbers = [match["major"], match["minor"], match["patch"]]
        return cls(
            int(numbers[0]),
            int(numbers[1] or 0),
            int(numbers[2] or 0),
            pre,
            match["build"] or "",
            sum(n is not None for n in numbers),
            bool(match["v"]),
            text,
        )

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    @property
    def precedence(self) -> Precedence:
        return (self.major, self.minor, self.patch, prerelease_rank(self.prerelease))

    @property
    def core(self) -> str:
        """``major.minor.patch[-prerelease]``, the normalised spelling."""
        text = f"{self.major}.{self.minor}.{self.patch}"
        return f"{text}-{self.prerelease}" if self.prerelease else text

    def __str__(self) -> str:
        return self.text or self.core
