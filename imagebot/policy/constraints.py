"""Masterminds-style semver constraints, as Flux and Argo CD Image Updater accept them.

Grammar: alternatives separated by ``||``; each is an AND-group of comparators separated by
spaces or one comma; a comparator is an optional operator (``=``, ``!=``, ``>``, ``<``,
``>=``/``=>``, ``<=``/``=<``, ``~``/``~>``, ``^``) and a version in which any number may be
``x``, ``X`` or ``*`` or missing, with an optional ``v``, ``-prerelease`` and ``+build``.
``1.2 - 1.4.5`` is the hyphen range ``>=1.2, <=1.4.5``.

Semantics follow Masterminds/semver v3 (``~1.2.3`` is ``>=1.2.3 <1.3.0``, ``^0.2.3`` is
``>=0.2.3 <0.3.0``, ``^0.0.3`` is ``=0.0.3``, ``<=1.2`` is ``<1.3.0``, ``>1.2`` is
``>=1.3.0``, a bare partial version is a wildcard: ``4.1`` means ``4.1.x``), with two
deliberate choices:

- a prerelease version qualifies only for an AND-group in which some comparator names a
  prerelease (``>=1.0.0-0``); the comparators of that group then compare prereleases by
  plain semver precedence. (Masterminds v3.3 does the same; older releases gated each
  comparator separately, so ``>=1.0.0-0 <2.0.0`` never matched a prerelease.)
- a wildcard major version (``*``, ``x``) with ``=``, ``~``, ``^``, ``>=`` or ``<=`` matches
  every version, as the Masterminds documentation says (its code lets ``^*`` match only
  ``0.0.0``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from imagebot.errors import PolicyError
from imagebot.policy.versions import Version, prerelease_valid

_PART = r"(?:[0-9]+|[xX*])"
_CV = (
    rf"v?(?P<major>{_PART})(?:\.(?P<minor>{_PART}))?(?:\.(?P<patch>{_PART}))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_COMPARATOR_RE = re.compile(
    rf"(?P<op>!=|>=|=>|<=|=<|~>|>|<|=|~|\^)?\s*(?P<cv>{_CV})(?=$|[\s,])", re.ASCII
)
_HYPHEN_RE = re.compile(rf"\s+-\s+(?P<cv>{_CV})(?=$|[\s,])", re.ASCII)
_OP_NAMES = {"": "=", "=": "=", "=>": ">=", "=<": "<=", "~>": "~"}
_WILD = frozenset("xX*")


@dataclass(frozen=True)
class Comparator:
    """One ``op version`` term. ``version`` has wildcards and missing numbers set to 0."""

    op: str
    version: Version
    minor_dirty: bool
    patch_dirty: bool
    any_major: bool
    text: str

    @property
    def dirty(self) -> bool:
        return self.any_major or self.minor_dirty or self.patch_dirty

    @property
    def names_prerelease(self) -> bool:
        return self.version.is_prerelease

    def accepts(self, v: Version) -> bool:
        """Whether *v* satisfies this term, prereleases aside (the group decides those)."""
        c = self.version
        cmp = _compare(v, c)
        if self.any_major and self.op in ("=", "~", "^", ">=", "<="):
            return True
        if self.op == "=":
            return self._tilde(v, cmp) if self.dirty else cmp == 0
        if self.op == "~":
            return self._tilde(v, cmp)
        if self.op == "^":
            return self._caret(v, cmp)
        if self.op == ">=":
            return cmp >= 0
        if self.op == "<":
            return cmp < 0
        if self.op == ">":
            return self._greater(v, cmp)
        if self.op == "<=":
            return self._less_equal(v, cmp)
        return self._not_equal(v, cmp)

    def _tilde(self, v: Version, cmp: int) -> bool:
        c = self.version
        if cmp < 0:
            return False
        if (
            (c.major, c.minor, c.patch) == (0, 0, 0)
            and not self.minor_dirty
            and not (self.patch_dirty)
        ):
            return True  # ~0.0.0 and ~* mean any version
        if v.major != c.major:
            return False
        return self.minor_dirty or v.minor == c.minor

    def _caret(self, v: Version, cmp: int) -> bool:
        c = self.version
        if cmp < 0:
            return False
        if c.major > 0 or self.minor_dirty:
            return v.major == c.major
        if v.major > 0:
            return False
        if c.minor > 0 or self.patch_dirty:
            return v.minor == c.minor
        if v.minor > 0:
            return False
        return v.patch == c.patch

    def _greater(self, v: Version, cmp: int) -> bool:
        c = self.version
        if not self.dirty or self.any_major:
            return cmp > 0
        if v.major != c.major:
            return v.major > c.major
        if self.minor_dirty:
            return False  # >1 needs 2.0.0 or higher
        return v.minor > c.minor  # >1.1 needs 1.2.0 or higher

    def _less_equal(self, v: Version, cmp: int) -> bool:
        c = self.version
        if not self.dirty:
            return cmp <= 0
        if v.major > c.major:
            return False
        return not (v.major == c.major and v.minor > c.minor and not self.minor_dirty)

    def _not_equal(self, v: Version, cmp: int) -> bool:
        c = self.version
        if self.dirty and not self.any_major:
            if v.major != c.major:
                return True
            if self.minor_dirty:
                return False
            if v.minor != c.minor:
                return True
            if self.patch_dirty:
                return v.prerelease != c.prerelease
            if v.patch != c.patch:
                return True
        return cmp != 0

    def bounds(self) -> tuple[Core, Core]:
        """Inclusive bounds on ``(major, minor, patch)`` of every version this term accepts.

        A necessary condition only (``!=`` and a wildcard major bound nothing, a prerelease
        of the upper bound falls inside), so a version outside is rejected without running
        :meth:`accepts`; see :meth:`Constraint.may_accept`.
        """
        c = self.version
        core = (c.major, c.minor, c.patch)
        if self.op == "!=" or (self.any_major and self.op in ("=", "~", "^", ">=", "<=")):
            return _LOWEST, _HIGHEST
        if self.op == "=" and not self.dirty:
            return core, core
        if self.op in ("=", "~"):
            if core == (0, 0, 0) and not self.minor_dirty and not self.patch_dirty:
                return core, _HIGHEST
            if self.minor_dirty:
                return core, (c.major, _INF, _INF)
            return core, (c.major, c.minor, _INF)
        if self.op == "^":
            if c.major > 0 or self.minor_dirty:
                return core, (c.major, _INF, _INF)
            if c.minor > 0 or self.patch_dirty:
                return core, (0, c.minor, _INF)
            return core, (0, 0, c.patch)
        if self.op in (">=", ">"):
            return core, _HIGHEST
        if self.op == "<":
            return _LOWEST, core
        # "<="
        if not self.dirty:
            return _LOWEST, core
        if self.minor_dirty:
            return _LOWEST, (c.major, _INF, _INF)
        return _LOWEST, (c.major, c.minor, _INF)

    def __str__(self) -> str:
        return self.text


#: ``(major, minor, patch)``; an unbounded number is ``inf``, which compares with ints.
Core = tuple[float, float, float]
_INF = float("inf")
_LOWEST: Core = (0, 0, 0)
_HIGHEST: Core = (_INF, _INF, _INF)


def _compare(a: Version, b: Version) -> int:
    pa, pb = a.precedence, b.precedence
    return (pa > pb) - (pa < pb)


@dataclass(frozen=True)
class Check:
    """The outcome of checking one version: ``blocked_prerelease`` when only the prerelease
    rule kept it out (some AND-group would accept it if it were not a prerelease)."""

    ok: bool
    blocked_prerelease: bool = False


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint: ``groups`` are alternatives, each a tuple of ANDed comparators."""

    text: str
    groups: tuple[tuple[Comparator, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """Parse *text* (``""`` means ``*``); raise :class:`PolicyError` saying where it fails."""
        normalised = " ".join(text.split())
        if not normalised:
            normalised = "*"
        groups = tuple(_parse_group(part, normalised) for part in normalised.split("||"))
        return cls(normalised, groups)

    def check(self, v: Version) -> Check:
        ok = blocked = False
        for group in self.groups:
            if not all(term.accepts(v) for term in group):
                continue
            if v.is_prerelease and not any(term.names_prerelease for term in group):
                blocked = True
                continue
            ok = True
            break
        return Check(ok, blocked and not ok)

    @cached_property
    def envelope(self) -> tuple[tuple[Core, Core], ...]:
        """Per alternative, inclusive bounds on ``(major, minor, patch)`` that every version it
        accepts lies within (the intersection of its terms' :meth:`Comparator.bounds`)."""
        out = []
        for group in self.groups:
            low, high = _LOWEST, _HIGHEST
            for term in group:
                term_low, term_high = term.bounds()
                low, high = max(low, term_low), min(high, term_high)
            if low <= high:
                out.append((low, high))
        return tuple(out)

    @cached_property
    def admits_prereleases(self) -> bool:
        """False when no alternative names a prerelease: then no prerelease ever qualifies."""
        return any(term.names_prerelease for group in self.groups for term in group)

    def may_accept(self, core: Core) -> bool:
        """False when no version with this ``(major, minor, patch)`` can satisfy the
        constraint: a cheap screen before :meth:`check`, never a substitute for it."""
        return any(low <= core <= high for low, high in self.envelope)

    def __contains__(self, v: object) -> bool:
        return isinstance(v, Version) and self.check(v).ok

    def __str__(self) -> str:
        return self.text


def _parse_group(group: str, whole: str) -> tuple[Comparator, ...]:
    terms: list[Comparator] = []
    pos = _skip_space(group, 0)
    if pos == len(group):
        raise PolicyError(f"invalid semver constraint {whole!r}: empty alternative around '||'")
    while True:
        match = _COMPARATOR_RE.match(group, pos)
        if match is None:
            raise PolicyError(
                f"invalid semver constraint {whole!r}: cannot read {group[pos:].strip()!r} "
                "(expected e.g. '~1.2', '>=1.0.0 <2.0.0', '1.x', '^2.3')"
            )
        op = match["op"] or ""
        hyphen = _HYPHEN_RE.match(group, match.end()) if not op else None
        if hyphen is not None:
            terms.append(_comparator(">=", match, "cv", whole))
            terms.append(_comparator("<=", hyphen, "cv", whole))
            pos = hyphen.end()
        else:
            terms.append(_comparator(op, match, "cv", whole))
            pos = match.end()
        pos = _skip_space(group, pos)
        if pos == len(group):
            return tuple(terms)
        if group[pos] == ",":
            pos = _skip_space(group, pos + 1)
            if pos == len(group) or group[pos] == ",":
                raise PolicyError(
                    f"invalid semver constraint {whole!r}: a comma must separate two comparators"
                )
        elif not group[pos - 1].isspace():
            raise PolicyError(
                f"invalid semver constraint {whole!r}: cannot read {group[pos:].strip()!r}"
            )


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _comparator(op: str, match: re.Match[str], group: str, whole: str) -> Comparator:
    major, minor, patch = match["major"], match["minor"], match["patch"]
    pre, build = match["pre"] or "", match["build"] or ""
    if pre and not prerelease_valid(pre):
        raise PolicyError(
            f"invalid semver constraint {whole!r}: prerelease {pre!r} has a number with a "
            "leading zero"
        )
    any_major = major in _WILD
    minor_dirty = not any_major and (minor is None or minor in _WILD)
    patch_dirty = not any_major and not minor_dirty and (patch is None or patch in _WILD)

    def number(part: str | None, dirty: bool) -> int:
        return 0 if dirty or part is None or part in _WILD else int(part)

    version = Version(
        number(major, any_major),
        number(minor, any_major or minor_dirty),
        number(patch, any_major or minor_dirty or patch_dirty),
        pre,
        build,
        text=match[group],
    )
    name = _OP_NAMES.get(op, op)
    return Comparator(name, version, minor_dirty, patch_dirty, any_major, f"{op}{match[group]}")
