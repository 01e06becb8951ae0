"""Image references: ``[host[:port]/]path[:tag][@algorithm:hex]``.

Parsing follows the grammar and normalisation of the distribution project's ``reference``
package (what ``docker pull`` accepts): ``alpine`` is ``docker.io/library/alpine``,
``index.docker.io`` is ``docker.io``, and the first path component is a registry host only
when it contains ``.`` or ``:``, is ``localhost``, or has upper-case letters.

The reference also remembers how it was written, so that changing the tag or digest renders
``alpine:3.10.1`` as ``alpine:3.10.2`` and never as ``docker.io/library/alpine:3.10.2``:
users' manifests keep their spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from imagebot.errors import InvalidReference, InvalidTag

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAINS = frozenset({"index.docker.io", "registry-1.docker.io"})
OFFICIAL_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255

TAG_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
_TAG_RE = re.compile(TAG_PATTERN)
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN_RE = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_DIGEST_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_KNOWN_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def is_valid_tag(text: str) -> bool:
    """True when *text* is a tag under the OCI grammar; nothing else is ever a tag."""
    return _TAG_RE.fullmatch(text) is not None


def validate_tag(text: str) -> str:
    """Return *text* if it is a valid tag, else raise :class:`InvalidTag` saying why."""
    if is_valid_tag(text):
        return text
    if not text:
        raise InvalidTag("empty tag")
    if len(text) > 128:
        raise InvalidTag(f"tag {text[:40]!r}... is {len(text)} characters long (at most 128)")
    raise InvalidTag(
        f"invalid tag {text!r}: a tag is a letter, digit or '_' followed by up to 127 "
        "letters, digits, '_', '.' or '-'"
    )


def is_valid_digest(text: str) -> bool:
    if _DIGEST_RE.fullmatch(text) is None:
        return False
    algorithm, _, hex_part = text.partition(":")
    expected = _KNOWN_DIGEST_LENGTHS.get(algorithm)
    return expected is None or (len(hex_part) == expected and hex_part == hex_part.lower())


def validate_digest(text: str) -> str:
    if not is_valid_digest(text):
        raise InvalidReference(f"invalid digest {text!r}: expected e.g. sha256:<64 hex digits>")
    return text


def split_domain(name: str) -> tuple[str, str]:
    """Split a name (no tag, no digest) into normalised registry host and repository path."""
    first, slash, rest = name.partition("/")
    if not slash or (
        not any(c in first for c in ".:") and first != "localhost" and first == first.lower()
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain in LEGACY_DEFAULT_DOMAINS:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed image reference that can be rendered back as it was written.

    ``domain`` and ``path`` are normalised (``docker.io``, ``library/alpine``) and are what the
    registry is asked about; ``written_name`` is the name exactly as the user wrote it.
    """

    written_name: str
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Slotted: pickle's default goes through a Python __setstate__, field by field;
        # the cycle caches keep thousands of references between processes.
        return (ImageReference, (self.written_name, self.domain, self.path, self.tag, self.digest))

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        """Parse *text*; raise :class:`InvalidReference` naming the problem."""
        if not isinstance(text, str):
            raise InvalidReference(f"image reference must be a string, not {type(text).__name__}")
        if text != text.strip() or not text:
            raise InvalidReference(f"invalid image reference {text!r}: empty or padded with spaces")
        rest, at, digest = text.partition("@")
        if at:
            validate_digest_in(text, digest)
        name, tag = _split_tag(rest)
        if tag is not None and not is_valid_tag(tag):
            raise InvalidReference(f"invalid image reference {text!r}: {validate_tag_message(tag)}")
        if not name:
            raise InvalidReference(f"invalid image reference {text!r}: missing repository name")
        if len(name) > NAME_TOTAL_LENGTH_MAX:
            raise InvalidReference(
                f"invalid image reference {text[:60]!r}...: name longer than "
                f"{NAME_TOTAL_LENGTH_MAX} characters"
            )
        domain, path = split_domain(name)
        if domain != DEFAULT_DOMAIN and _DOMAIN_RE.fullmatch(domain) is None:
            raise InvalidReference(
                f"invalid image reference {text!r}: bad registry host {domain!r}"
            )
        if _PATH_RE.fullmatch(path) is None:
            if path.lower() != path and _PATH_RE.fullmatch(path.lower()):
                raise InvalidReference(
                    f"invalid image reference {text!r}: repository name must be lowercase"
                )
            raise InvalidReference(
                f"invalid image reference {text!r}: bad repository name {path!r} (lowercase "
                "letters, digits and separators '.', '_', '__', '-' between them)"
            )
        return cls(name, domain, path, tag, digest if at else None)

    @classmethod
    def from_parts(
        cls, repository: str, tag: str | None = None, digest: str | None = None
    ) -> ImageReference:
        """Build from a split form such as Helm values' ``repository`` + ``tag``."""
        name = cls.parse(repository)
        if name.tag is not None or name.digest is not None:
            raise InvalidReference(f"invalid repository {repository!r}: it has a tag or digest")
        if tag is not None and not is_valid_tag(tag):
            raise InvalidReference(f"invalid tag for {repository!r}: {validate_tag_message(tag)}")
        if digest is not None:
            validate_digest_in(repository, digest)
        return cls(name.written_name, name.domain, name.path, tag, digest)

    @property
    def repository(self) -> str:
        """Canonical ``host/path``: the key a registry scan is done under."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The short form ``docker`` prints (``alpine``, ``bitnami/redis``, ``ghcr.io/x/y``)."""
        if self.domain == DEFAULT_DOMAIN:
            path = self.path
            if path.startswith(OFFICIAL_PREFIX) and path.count("/") == 1:
                path = path[len(OFFICIAL_PREFIX) :]
            return path
        return self.repository

    def with_tag(self, tag: str | None, digest: str | None = None) -> ImageReference:
        """The same name with another tag and digest (pass the new digest, or None to drop it)."""
        if tag is not None:
            validate_tag(tag)
        if digest is not None:
            validate_digest(digest)
        return ImageReference(self.written_name, self.domain, self.path, tag, digest)

    def __str__(self) -> str:
        text = self.written_name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def _split_tag(rest: str) -> tuple[str, str | None]:
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        return rest[:colon], rest[colon + 1 :]
    return rest, None


def validate_tag_message(tag: str) -> str:
    try:
        validate_tag(tag)
    except InvalidTag as exc:
        return str(exc)
    return "valid tag"


def validate_digest_in(text: str, digest: str) -> None:
    if not is_valid_digest(digest):
        raise InvalidReference(
            f"invalid image reference {text!r}: bad digest {digest!r} "
            "(expected e.g. sha256:<64 lowercase hex digits>)"
        )


def parse_reference(text: str) -> ImageReference:
    """Shorthand for :meth:`ImageReference.parse`."""
    return ImageReference.parse(text)
