"""Tags as values: where the version sits in a tag, and which tags belong together.

A registry returns tags such as ``v1.2``, ``1.25.3-alpine``, ``2024.01.05``,
``3.1.1-debian-9-r0`` or ``main-3f2a9c1-1700000000``. Like Dependabot's docker ``Tag``, a
:class:`Tag` splits one into an optional *prefix*, a numeric version (``numbers``), a
*suffix*, the version's *precision* (how many numbers) and its *format*, so that the policy
engine can keep a workload inside its *family*: a workload on ``1.25.3-alpine`` must move to
``1.25.4-alpine``, never to ``1.25.4`` or ``1.25.5-bookworm``, and one on ``3.10`` to ``3.11``,
not to ``3.11.2``.

What counts as the same family (see :meth:`Tag.same_family`):

- a ``v`` right before the version is no difference (``v1.2`` and ``1.3``);
- a suffix that is a prerelease marker (``-rc.1``, ``-beta2``, ``-0``) is no difference
  either: ``1.0.0-rc.1`` belongs with ``1.0.0``, so a release candidate can move on to the
  release (semver decides whether prereleases qualify);
- Git commit ids (7 to 40 hex digits) and long numbers that are not dates (build ids, Unix
  times) vary from tag to tag, so they are compared as a class: ``dev-9e3bdaf`` and
  ``dev-1234567`` are one family, ``main-3f2a9c1-1700000000`` and ``main-0b1c2d3-1700000100``
  another; a lone number (``18-alpine``, a build counter) is of that class too, so a counter
  passing 999999 does not leave its family;
- a trailing package revision (``-r0``, ``-r12``, as Bitnami and Alpine use) may change;
- everything else in the prefix and suffix must be equal, and so must format and precision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from imagebot.reference import validate_tag

#: A numeric version inside a tag: optional ``v``, dot-separated numbers, standing alone
#: between separators (``-``, ``_``) or the ends. ``alpine3.19`` or ``r0`` hold no version.
_RUN_RE = re.compile(r"(?<![A-Za-z0-9.])(v?)([0-9]+(?:\.[0-9]+)*)(?![A-Za-z0-9]|\.[0-9])", re.ASCII)
#: A token (between separators) that looks like a Git commit id.
_HEX_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9])[0-9a-f]{7,40}(?![A-Za-z0-9])", re.ASCII)
_TRAILING_REVISION_RE = re.compile(r"([-_.])r[0-9]+$", re.ASCII)
_PRERELEASE_SUFFIX_RE = re.compile(
    r"-(?:(?:alpha|beta|rc|pre|preview|dev|snapshot|canary|nightly|a|b|m)[0-9]*|[0-9]+)"
    r"(?:[.-][0-9A-Za-z-]+)*",
    re.ASCII | re.IGNORECASE,
)

#: Formats a tag's version can have.
FORMATS = ("version", "date", "id", "none")


def _is_date(numbers: tuple[int, ...], digits: str) -> bool:
    """A calendar version: 2024.01.05, 2024.1, 20240105, 202401051230..."""
    if len(numbers) >= 2:
        year_text = digits.split(".", 1)[0]
        return len(year_text) == 4 and 1970 <= numbers[0] <= 2099 and 1 <= numbers[1] <= 12
    if len(digits) not in (8, 10, 12, 14):
        return False
    year, month, day = int(digits[0:4]), int(digits[4:6]), int(digits[6:8])
    if not (1970 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    rest = digits[8:]
    hour = int(rest[0:2]) if rest else 0
    minute = int(rest[2:4]) if len(rest) >= 4 else 0
    second = int(rest[4:6]) if len(rest) >= 6 else 0
    return hour <= 23 and minute <= 59 and second <= 59


def _is_id_number(digits: str) -> bool:
    """A long bare number that is not a date: a build id, a Unix time, an all-digit commit id."""
    return "." not in digits and len(digits) >= 7 and not _is_date((int(digits),), digits)


def is_prerelease_suffix(suffix: str) -> bool:
    """True for suffixes that mark a prerelease (``-rc.1``, ``-beta2``, ``-0``), not a variant."""
    return _PRERELEASE_SUFFIX_RE.fullmatch(suffix) is not None


@dataclass(frozen=True)
class Tag:
    """One image tag, split into prefix, numeric version, suffix, precision and format.

    ``format`` is ``"version"`` (``1.2.3``), ``"date"`` (``2024.01.05``, ``20240105``),
    ``"id"`` (the varying part is a commit id or a long build number) or ``"none"`` (no
    numeric version: ``latest``, ``main``; then ``numbers`` is empty and ``prefix`` is the
    whole tag).
    """

    raw: str
    prefix: str
    numbers: tuple[int, ...]
    suffix: str
    precision: int
    format: str

    @classmethod
    def parse(cls, text: str, *, check: bool = True) -> Tag:
        """Split *text*; raise :class:`~imagebot.errors.InvalidTag` if it is not an OCI tag.

        ``check=False`` splits any string the same way (a value a filter extracted from a
        tag need not itself be a valid tag).
        """
        if check:
            validate_tag(text)
        return _split(text)

    @property
    def has_version(self) -> bool:
        """True when the tag carries something that orders it (a version, date or id)."""
        return self.format != "none"

    @property
    def variant(self) -> str:
        """The suffix when it names a variant (``-alpine``), or ``""`` for none or a prerelease."""
        if self.format in ("none", "id") or is_prerelease_suffix(self.suffix):
            return ""
        return self.suffix

    @cached_property
    def family(self) -> tuple[str, str, int]:
        """What must be equal for two tags to be one family: shape, format and precision.

        A lone number (``18``, a build counter, a Unix time) and a commit id are one kind,
        *serial*, so a counter that grows from 999999 to 1000000 digits stays in its family.
        """
        if self.format == "id" or (self.format == "version" and self.precision == 1):
            return (self._shape("#"), "serial", 0)
        return (self._shape("<N>"), self.format, self.precision)

    def same_family(self, other: Tag) -> bool:
        """True when a workload on this tag may move to *other* without changing variant."""
        return self.family == other.family

    def sort_key(self) -> tuple[object, ...]:
        """Version-aware natural order: ``3.1.9`` < ``3.1.10``, ``1.2.3-rc1`` < ``1.2.3``."""
        return natural_key(self.raw)

    def _shape(self, middle: str) -> str:
        if self.format == "none":
            return _mask_ids(self.raw)
        prefix = self.prefix
        if prefix.endswith("v") and (len(prefix) == 1 or prefix[-2] in "-_."):
            prefix = prefix[:-1]
        suffix = self.suffix
        if self.format != "id" and is_prerelease_suffix(suffix):
            suffix = ""
        suffix = _TRAILING_REVISION_RE.sub(r"\1r#", _mask_ids(suffix))
        return _mask_ids(prefix) + middle + suffix


@lru_cache(maxsize=8192)
def _split(text: str) -> Tag:
    """Cached: a scan decides for many workloads over the same tag lists."""
    runs = list(_RUN_RE.finditer(text))
    regular = [m for m in runs if not _is_id_number(m.group(2))]
    if regular:
        match = regular[0]
        digits = match.group(2)
        numbers = tuple(int(part) for part in digits.split("."))
        fmt = "date" if _is_date(numbers, digits) else "version"
        return Tag(
            text,
            text[: match.start(2)],
            numbers,
            text[match.end(2) :],
            len(numbers),
            fmt,
        )
    ids: list[tuple[int, int, tuple[int, ...]]] = [
        (m.start(2), m.end(2), (int(m.group(2)),)) for m in runs
    ]
    ids += [(m.start(), m.end(), ()) for m in _HEX_TOKEN_RE.finditer(text)]
    if ids:
        start, end, numbers = max(ids)
        return Tag(text, text[:start], numbers, text[end:], len(numbers), "id")
    return Tag(text, text, (), "", 0, "none")


def _mask_ids(text: str) -> str:
    text = _HEX_TOKEN_RE.sub("#", text)
    return _RUN_RE.sub(
        lambda m: "#" if _is_id_number(m.group(2)) else m.group(0),
        text,
    )


_CHUNK_RE = re.compile(r"[0-9]+|[^0-9]+", re.ASCII)


@lru_cache(maxsize=8192)
def natural_key(text: str) -> tuple[object, ...]:
    """A sort key that orders tags the way people read versions.

    Digit runs compare as numbers (``3.1.10`` after ``3.1.9``); where one tag stops and the
    other goes on with ``-...`` the shorter one sorts *after* (a release after its
    ``-rc1``), where it goes on with anything else the shorter one sorts before (``1.2``
    before ``1.2.3``). Ties are broken by the text itself, so the order is total.
    """
    chunks: list[tuple[int, object]] = []
    parts = _CHUNK_RE.findall(text)
    for index, chunk in enumerate(parts):
        if chunk[0].isdigit():
            chunks.append((2, int(chunk)))
        else:
            if index + 1 < len(parts) and (chunk == "v" or chunk[-2:] in ("-v", "_v", ".v")):
                chunk = chunk[:-1]  # a v before a version is no difference
                if not chunk:
                    continue
            chunks.append((1, chunk) if chunk[0] in "-_" else (4, chunk))
    chunks.append((3, ""))
    return (tuple(chunks), text)
