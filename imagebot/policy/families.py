"""Keeping a workload inside its tag family (see :mod:`imagebot.tag`).

When the current tag is known, a candidate must be of the same family by default, as
Dependabot and Renovate do. The family is that of what the policy compares: the tag, or the
value a filter extracted from it. No family is enforced when the current tag carries no
version at all (``latest``, ``main``: there is no family to stay in), when the policy names
one exact tag (``glob:latest`` means that tag, whatever the current one), or when the
caller switched families off.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagebot.tag import Tag


@dataclass(frozen=True)
class FamilyContext:
    current: Tag | None = None
    active: bool = False

    @classmethod
    def build(cls, current_value: str | None, *, enabled: bool) -> FamilyContext:
        if current_value is None:
            return cls()
        current = Tag.parse(current_value, check=False)
        return cls(current, enabled and current.has_version)

    @property
    def variant(self) -> str:
        """The current tag's variant suffix (``-alpine``) while families are enforced."""
        return self.current.variant if self.active and self.current else ""

    def rejects(self, value: str) -> str | None:
        """Why *value* is outside the current family, or None when it belongs."""
        if not self.active or self.current is None:
            return None
        tag = Tag.parse(value, check=False)
        if self.current.same_family(tag):
            return None
        return f"not of the family of {self.current.raw} ({_describe(tag, self.current)})"


def _describe(tag: Tag, current: Tag) -> str:
    mine, theirs = tag.family, current.family
    if mine[1] != theirs[1]:
        return f"format {mine[1]}, not {theirs[1]}"
    if mine[2] != theirs[2]:
        return f"{mine[2]} version numbers, not {theirs[2]}"
    return f"shape {mine[0]!r}, not {theirs[0]!r}"
