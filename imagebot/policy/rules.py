"""The policy kinds: which values qualify and how they rank.

Each rule sees a :class:`Subject` (the tag, the value it compares -- the tag itself or what a
filter extracted -- and the image's build time when known) and answers two questions:
does it qualify (:meth:`Rule.admit`) and where does it rank (:meth:`Rule.rank`, see
:mod:`imagebot.policy.sorting` for what "ranks above" means).

=================  ===========================================================
rule               ranks above = ...
=================  ===========================================================
semver             a higher version (semver precedence); within a variant
                   family (``-alpine``) also a later suffix revision (``-r3``)
glob, regex,       a newer build; a tag with a known build time above one
newest-build       without; without build times, later in natural version order
alphabetical       later in byte order (``asc``) or earlier (``desc``)
numerical          a bigger number (``asc``) or a smaller one (``desc``)
=================  ===========================================================
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from imagebot.policy.constraints import Constraint
from imagebot.policy.families import FamilyContext
from imagebot.policy.globs import compile_glob
from imagebot.policy.goregex import compile_go
from imagebot.policy.sorting import Desc, Rank
from imagebot.policy.versions import VERSION_RE, Version, prerelease_rank
from imagebot.tag import Tag, natural_key


@dataclass(frozen=True)
class Subject:
    tag: str
    value: str
    created: datetime | None = None


@dataclass(frozen=True)
class Rejection:
    category: str
    reason: str


class Rule(ABC):
    kind: ClassVar[str]
    needs_build_times: ClassVar[bool] = False

    @property
    @abstractmethod
    def text(self) -> str:
        """The normalised policy string (``semver:~1.2``, ``glob:*``)."""

    @abstractmethod
    def admit(self, subject: Subject, family: FamilyContext) -> Rejection | None:
        """None when *subject* qualifies, else why not."""

    @abstractmethod
    def rank(self, subject: Subject, family: FamilyContext) -> Rank | None:
        """Where *subject* ranks, or None when it cannot be ranked under this policy."""

    @abstractmethod
    def superlative(self, best: Subject) -> str:
        """Why *best* won, completing ``"<tag> is ... under <policy>"``."""

    def fast_keys(
        self, values: Sequence[str], created: Sequence[datetime | None], family: FamilyContext
    ) -> list[Key | None]:
        """Per value, the ``rank(...).primary`` of one that may qualify, None for one that cannot.

        The cheap first pass of :func:`~imagebot.policy.engine.decide` when only the top
        candidate is wanted: it runs over every tag, so rules override it with checks cheaper
        than :meth:`admit` and :meth:`rank`. It may let through a value that does not qualify
        (the engine screens the winners in full), never turn away one that does, and must
        give exactly the primary that :meth:`rank` gives. *created* is in UTC.
        """
        keys: list[Key | None] = []
        for value, when in zip(values, created, strict=True):
            subject = Subject(value, value, when)
            rank = None if self.admit(subject, family) else self.rank(subject, family)
            keys.append(None if rank is None else rank.primary)
        return keys


#: A rank's primary, as :meth:`Rule.fast_keys` gives it.
Key = tuple[Any, ...]
_RELEASE = prerelease_rank("")


class SemverRule(Rule):
    """``semver:<constraint>``: the highest version that satisfies the constraint.

    Among equal versions written differently, the one with more numbers wins
    (``1.10.0`` over ``1.10``), then the one without ``v``. Within a variant family (current
    ``1.25.3-alpine``) the suffix is the variant, not a prerelease: the numbers are the
    version, and a later revision suffix ranks above (``-r3`` over ``-r0``).
    """

    kind = "semver"

    def __init__(self, constraint: Constraint) -> None:
        self.constraint = constraint
        self._last: tuple[tuple[str, str] | None, tuple[Version, str] | None] = (None, None)

    @property
    def text(self) -> str:
        return f"semver:{self.constraint}"

    def version(self, value: str, family: FamilyContext) -> tuple[Version, str] | None:
        """*value* as a version and its variant suffix; None when it is not a version.

        :meth:`admit` and :meth:`rank` ask for the same value one after the other, so the
        last answer is kept (one tuple, swapped whole: safe to share between threads)."""
        key = (value, family.variant)
        last_key, last = self._last
        if last_key == key:
            return last
        parsed = self._version(value, family)
        self._last = (key, parsed)
        return parsed

    def _version(self, value: str, family: FamilyContext) -> tuple[Version, str] | None:
        if not family.variant:
            version = Version.parse(value)
            return (version, "") if version else None
        tag = Tag.parse(value, check=False)
        if tag.format not in ("version", "date") or tag.prefix not in ("", "v"):
            return None
        if not 1 <= tag.precision <= 3:
            return None
        major, minor, patch = tag.numbers + (0,) * (3 - tag.precision)
        version = Version(
            major, minor, patch, parts=tag.precision, v_prefix=tag.prefix == "v", text=value
        )
        return version, tag.suffix

    def admit(self, subject: Subject, family: FamilyContext) -> Rejection | None:
        parsed = self.version(subject.value, family)
        if parsed is None:
            return Rejection("policy", f"{_quote(subject)} is not a version")
        check = self.constraint.check(parsed[0])
        if check.ok:
            return None
        if check.blocked_prerelease:
            return Rejection(
                "prerelease",
                f"{_quote(subject)} is a prerelease and {self.constraint} names no prerelease",
            )
        return Rejection("policy", f"{_quote(subject)} does not satisfy {self.constraint}")

    def rank(self, subject: Subject, family: FamilyContext) -> Rank | None:
        parsed = self.version(subject.value, family)
        if parsed is None:
            return None
        version, suffix = parsed
        variant = natural_key(suffix) if family.variant else ()
        return Rank((version.precedence, variant), (version.parts, not version.v_prefix))

    def superlative(self, best: Subject) -> str:
        return "the highest qualifying version"

    def fast_keys(
        self, values: Sequence[str], created: Sequence[datetime | None], family: FamilyContext
    ) -> list[Key | None]:
        if family.variant:
            return super().fast_keys(values, created, family)
        fullmatch = VERSION_RE.fullmatch
        prereleases = self.constraint.admits_prereleases
        envelope = self.constraint.envelope
        low, high = envelope[0] if len(envelope) == 1 else (None, None)
        may_accept = self.constraint.may_accept
        keys: list[Key | None] = []
        append = keys.append
        for value in values:
            match = fullmatch(value)
            if match is None:
                append(None)
                continue
            major, minor, patch, pre = match.group(2, 3, 4, 5)
            if pre and not prereleases:
                append(None)
                continue
            core = (int(major), int(minor) if minor else 0, int(patch) if patch else 0)
            if not (low <= core <= high if low is not None else may_accept(core)):  # type: ignore[operator]
                append(None)
                continue
            append(((*core, prerelease_rank(pre) if pre else _RELEASE), ()))
        return keys


class BuildTimeRule(Rule):
    """Rules that pick the newest build among what they match."""

    needs_build_times = True

    def rank(self, subject: Subject, family: FamilyContext) -> Rank:
        natural = natural_key(subject.value)
        if subject.created is not None:
            return Rank((1, subject.created), natural)
        return Rank((0, natural), natural)

    #: ``fullmatch`` or ``search`` of the rule's compiled pattern; None matches everything.
    matcher: Callable[[str], object] | None = None

    def matches(self, value: str) -> bool:
        return self.matcher is None or self.matcher(value) is not None

    def fast_keys(
        self, values: Sequence[str], created: Sequence[datetime | None], family: FamilyContext
    ) -> list[Key | None]:
        match = self.matcher
        return [
            None
            if match is not None and match(value) is None
            else (1, when)
            if when is not None
            else (0, natural_key(value))
            for value, when in zip(values, created, strict=True)
        ]

    def superlative(self, best: Subject) -> str:
        if best.created is None:
            return "the last qualifying tag in version order (no build times known)"
        return "the newest qualifying build"


class GlobRule(BuildTimeRule):
    """``glob:<pattern>``: shell glob over the whole tag; the newest build wins."""

    kind = "glob"

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.regex = compile_glob(pattern)
        self.matcher = self.regex.fullmatch

    @property
    def text(self) -> str:
        return f"glob:{self.pattern}"

    def admit(self, subject: Subject, family: FamilyContext) -> Rejection | None:
        if self.matches(subject.value):
            return None
        return Rejection("policy", f"{_quote(subject)} does not match {self.text}")


class RegexRule(BuildTimeRule):
    """``regex:<re>`` / ``regexp:<re>``: searched, not anchored; the newest build wins."""

    kind = "regex"

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.regex = compile_go(pattern, "policy regex")
        self.matcher = self.regex.search

    @property
    def text(self) -> str:
        return f"regex:{self.pattern}"

    def admit(self, subject: Subject, family: FamilyContext) -> Rejection | None:
        if self.matches(subject.value):
            return None
        return Rejection("policy", f"{_quote(subject)} does not match {self.text}")


class NewestBuildRule(BuildTimeRule):
    """``newest-build`` (Argo CD Image Updater): the newest build among all (filtered) tags."""

    kind = "newest-build"

    @property
    def text(self) -> str:
        return "newest-build"

    def admit(self, subject: Subject, family: FamilyContext) -> Rejection | None:
        return None


class AlphabeticalRule(Rule):
    """``alphabetical[:asc|:desc]`` (Flux v2): the last value in byte order, or the first."""

    kind = "alphabetical"

    def __init__(self, order: str) -> None:
        self.order = order

    @property
    def text(self) -> str:
        return f"alphabetical:{self.order}"

    def admit(self, subject: Subject, family: FamilyContext) -> Rejection | None:
        return None

    def rank(self, subject: Subject, family: FamilyContext) -> Rank:
        key = subject.value.encode()
        return Rank((key,) if self.order == "asc" else (Desc(key),))

    def fast_keys(
        self, values: Sequence[str], created: Sequence[datetime | None], family: FamilyContext
    ) -> list[Key | None]:
        if self.order == "asc":
            return [(value.encode(),) for value in values]
        return [(Desc(value.encode()),) for value in values]

    def superlative(self, best: Subject) -> str:
        where = "last" if self.order == "asc" else "first"
        return f"the {where} in alphabetical order"


_NUMBER_RE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?", re.ASCII)


class NumericalRule(Rule):
    """``numerical[:asc|:desc]`` (Flux v2): the biggest number, or the smallest.

    A value that is not a number (optional sign, digits, optional fraction; no exponent,
    ``Inf``, ``NaN`` or ``_``) is skipped rather than failing the whole policy as in Flux.
    Numbers compare exactly (no float rounding of long timestamps).
    """

    kind = "numerical"

    def __init__(self, order: str) -> None:
        self.order = order

    @property
    def text(self) -> str:
        return f"numerical:{self.order}"

    def admit(self, subject: Subject, family: FamilyContext) -> Rejection | None:
        if _NUMBER_RE.fullmatch(subject.value):
            return None
        return Rejection("policy", f"{_quote(subject)} is not a number")

    def rank(self, subject: Subject, family: FamilyContext) -> Rank | None:
        if not _NUMBER_RE.fullmatch(subject.value):
            return None
        number = Decimal(subject.value)
        return Rank((number,) if self.order == "asc" else (-number,))

    def fast_keys(
        self, values: Sequence[str], created: Sequence[datetime | None], family: FamilyContext
    ) -> list[Key | None]:
        fullmatch, sign = _NUMBER_RE.fullmatch, 1 if self.order == "asc" else -1
        # An integer equals its Decimal and orders the same, and int() is cheaper.
        return [
            ((int(value) if "." not in value else Decimal(value)) * sign,)
            if fullmatch(value)
            else None
            for value in values
        ]

    def superlative(self, best: Subject) -> str:
        return "the highest number" if self.order == "asc" else "the lowest number"


def _quote(subject: Subject) -> str:
    if subject.value == subject.tag:
        return subject.tag
    return f"{subject.tag} (value {subject.value!r})"
