"""How policies order what qualifies, and what "ranks above" means.

Every qualifying tag gets a :class:`Rank`. ``primary`` is what a policy means by better (a
higher version, a newer build, a later name, a bigger number): a tag *ranks above* another
when its primary is greater, and only such a tag may replace the current one (no
downgrades, and no churn between spellings of the same version or tags of the same build).
``secondary`` only chooses among candidates whose primaries are equal (``1.10.0`` over
``1.10``); the tag's natural order breaks any remaining tie, so the answer never depends on
the order in which a registry listed the tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import total_ordering
from typing import Any

from imagebot.tag import natural_key


@total_ordering
class Desc:
    """Wraps a value so that it sorts in reverse (descending policies)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Desc) and self.value == other.value

    def __lt__(self, other: Desc) -> bool:
        return bool(other.value < self.value)

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"Desc({self.value!r})"


@dataclass(frozen=True)
class Rank:
    primary: tuple[Any, ...]
    secondary: tuple[Any, ...] = ()

    def above(self, other: Rank) -> bool:
        """Strictly better in what the policy means by better."""
        return self.primary > other.primary


def order_key(rank: Rank, tag: str) -> tuple[Any, ...]:
    """Total order of candidates: the greatest key is the one chosen."""
    return (rank.primary, rank.secondary, natural_key(tag))
