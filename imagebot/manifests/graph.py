"""Questions about a composed YAML document as a graph: sharing, expansion, duplicate keys.

Anchors, aliases and merge keys make a composed document a graph, not a tree. An alias *is*
the anchored node (the same object), and a merge key (``<<: *base``) lends the pairs of
another mapping to this one, where this mapping's own keys win::

    base: &base {image: app:1.0}   # one scalar node ...
    web: {<<: *base}               # ... read at web.image
    worker: {<<: *base}            # ... and at worker.image

Three things follow, each answered here over the node graph alone (node identity for
sharing, node marks for lines), whatever parser composed it:

* :func:`expansion` -- how many nodes the document has when every alias and merge is
  expanded. A kilobyte of nested aliases can expand to billions ("billion laughs"), and an
  alias inside its own anchor never ends; :func:`check_expansion` refuses both before
  anything walks the document.
* :func:`occurrences` -- every path at which a node can be read, so an edit to ``app:1.0``
  above is known to change ``web`` *and* ``worker``.
* :func:`duplicate_keys` -- keys written twice in a mapping on the way to a value, where
  YAML tools disagree on which one counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MERGE_TAG = "tag:yaml.org,2002:merge"

#: A document may expand to at most ``EXPANSION_FACTOR`` times the nodes written, plus
#: ``EXPANSION_FLOOR``. Real manifests share a few blocks (compose's ``x-`` defaults, Helm
#: values reused by two containers) and stay far below; an alias bomb exceeds it at once.
EXPANSION_FACTOR = 10
EXPANSION_FLOOR = 10_000

PathKey = str | int
Path = tuple[PathKey, ...]


class ExpansionError(Exception):
    """A document's aliases or merge keys expand beyond the bound, or refer to themselves."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _children(node: Node) -> list[Node]:
    """Every node this one reads directly: keys and values, items, merged mappings."""
    if isinstance(node, MappingNode):
        out: list[Node] = []
        for key, value in node.value:
            out.append(key)
            out.append(value)
        return out
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _expansion_limit(written: int) -> int:
    return EXPANSION_FLOOR + EXPANSION_FACTOR * written


def expansion(doc: Node) -> tuple[int, int]:
    """``(nodes written, nodes once every alias and merge is expanded)``.

    Linear in the nodes written: each node's expanded size is counted once and reused by
    every alias of it. Raises :class:`ExpansionError` for a node that contains itself.
    """
    sizes: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[tuple[Node, bool]] = [(doc, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_stack.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            continue
        if key in sizes:
            continue
        if key in on_stack:
            raise ExpansionError(
                f"an alias at or inside line {node.start_mark.line + 1} refers to a node that "
                "contains it (a recursive alias never ends)",
                node.start_mark.line + 1,
            )
        on_stack.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_stack:
                raise ExpansionError(
                    f"an alias inside line {node.start_mark.line + 1} refers to a node that "
                    "contains it (a recursive alias never ends)",
                    node.start_mark.line + 1,
                )
            if id(child) not in sizes:
                stack.append((child, False))
    return len(sizes), sizes[id(doc)]


def check_expansion(doc: Node) -> None:
    """Raise :class:`ExpansionError` when *doc* expands past the bound (see module notes)."""
    written, expanded = expansion(doc)
    limit = _expansion_limit(written)
    if expanded > limit:
        line = doc.start_mark.line + 1
        raise ExpansionError(
            f"aliases and merge keys expand this document to {_amount(expanded)} nodes from "
            f"{written} written (limit {limit}); refused as an alias bomb",
            line,
        )


def _amount(n: int) -> str:
    return str(n) if n < 10**12 else f"more than 10^{len(str(n)) - 1}"


def has_shared_nodes(doc: Node) -> bool:
    """True when some node of *doc* can be read at more than one path."""
    written, expanded = expansion(doc)
    return expanded > written


# --- reading a mapping as YAML tools do -------------------------------------------------


def pairs(node: MappingNode) -> Iterator[tuple[Node, Node, MappingNode]]:
    """``(key, value, owner)``: own pairs first, then merged ones (an earlier key wins).

    *owner* is the mapping the pair is written in (this one, or a merged one)."""
    seen: set[str] = set()
    merges: list[Node] = []
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.tag == MERGE_TAG:
            merges.append(value)
            continue
        if isinstance(key, ScalarNode):
            seen.add(key.value)
        yield key, value, node
    for merged in merges:
        sources = merged.value if isinstance(merged, SequenceNode) else [merged]
        for source in sources:
            if not isinstance(source, MappingNode):
                continue
            for key, value, owner in pairs(source):
                if isinstance(key, ScalarNode):
                    if key.value in seen:
                        continue
                    seen.add(key.value)
                yield key, value, owner


def occurrences(doc: Node) -> dict[int, list[Path]]:
    """Every path (as :func:`yamlsource.get_path` follows it) at which each node is read.

    Keyed by node identity. The document must have passed :func:`check_expansion`, which
    bounds the work.
    """
    found: dict[int, list[Path]] = {}
    stack: list[tuple[Path, Node]] = [((), doc)]
    while stack:
        path, node = stack.pop()
        found.setdefault(id(node), []).append(path)
        if isinstance(node, MappingNode):
            for key, value, _ in pairs(node):
                if isinstance(key, ScalarNode):
                    stack.append(((*path, key.value), value))
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                stack.append(((*path, i), item))
    return found


# --- how a path is reached ------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One key on a path: the node reached, and the mapping it is written in when that is
    a merged one (``via``: the anchor of the merged mapping, or ``""`` if it has none)."""

    key: PathKey
    node: Node
    via: str | None = None
    #: Where the key is written (an alias's own line, not its anchor's).
    line: int = 0
    #: The mapping the key is written in (None for a sequence index).
    owner: MappingNode | None = None


def _walk(doc: Node, path: Path) -> list[Step]:
    """The steps along *path* as far as it leads (as :func:`yamlsource.get_path` reads)."""
    out: list[Step] = []
    node: Node = doc
    for key in path:
        if isinstance(key, int):
            if not isinstance(node, SequenceNode) or not 0 <= key < len(node.value):
                break
            node = node.value[key]
            out.append(Step(key, node, line=node.start_mark.line + 1))
            continue
        if not isinstance(node, MappingNode):
            break
        for k, value, owner in pairs(node):
            if isinstance(k, ScalarNode) and k.value == key:
                via = None if owner is node else (getattr(owner, "anchor", None) or "")
                out.append(Step(key, value, via, k.start_mark.line + 1, owner))
                node = value
                break
        else:
            break
    return out


def steps(doc: Node, path: Path) -> list[Step] | None:
    """The nodes along *path* (None when it leads nowhere), with merges noted."""
    found = _walk(doc, path)
    return found if len(found) == len(path) else None


def sharing(doc: Node, path: Path) -> str:
    """How the value at *path* comes to be shared, for messages: the innermost anchor on
    the path (``anchor &img``) or merge key (``merge key <<: *base``)."""
    found = steps(doc, path) or []
    for step in reversed(found):
        anchor = getattr(step.node, "anchor", None)
        if anchor:
            return f"anchor &{anchor}"
        if step.via is not None:
            return f"merge key <<: *{step.via}" if step.via else "a merge key (<<)"
    anchor = getattr(doc, "anchor", None)
    return f"anchor &{anchor}" if anchor else "an alias"


# --- duplicate keys -----------------------------------------------------------------------


def duplicate_keys(doc: Node, path: Path) -> list[tuple[str, list[int]]]:
    """Keys written more than once in a mapping on *path* (the last key included), each
    with the lines it is written on. Merged keys that a mapping's own key overrides are
    YAML's merge rule, not duplicates.

    Every discovered site and every rewrite asks this, so the common case (each key on the
    path written in the mapping itself) is one pass over each mapping's own pairs; a key
    found only through a merge key takes :func:`_walk`, as :func:`steps` reads it."""
    out: list[tuple[str, list[int]]] = []
    node = doc
    for key in path:
        if isinstance(key, int):
            if not isinstance(node, SequenceNode) or not 0 <= key < len(node.value):
                return out
            node = node.value[key]
            continue
        if not isinstance(node, MappingNode):
            return out
        found: Node | None = None
        lines: list[int] = []
        for k, value in node.value:
            # value first: a string compared with a collection's list is simply unequal
            if k.value == key and k.tag != MERGE_TAG and isinstance(k, ScalarNode):
                lines.append(k.start_mark.line + 1)
                if found is None:
                    found = value
        if found is None:
            if any(isinstance(k, ScalarNode) and k.tag == MERGE_TAG for k, _ in node.value):
                return _duplicate_keys_walked(doc, path)
            return out
        if len(lines) > 1:
            out.append((str(key), lines))
        node = found
    return out


def _duplicate_keys_walked(doc: Node, path: Path) -> list[tuple[str, list[int]]]:
    """:func:`duplicate_keys` along the steps :func:`_walk` takes (through merge keys)."""
    out: list[tuple[str, list[int]]] = []
    for step in _walk(doc, path):
        if step.owner is None:
            continue
        lines = [
            k.start_mark.line + 1
            for k, _ in step.owner.value
            if isinstance(k, ScalarNode) and k.tag != MERGE_TAG and k.value == step.key
        ]
        if len(lines) > 1:
            out.append((str(step.key), lines))
    return out


def describe_duplicates(found: list[tuple[str, list[int]]]) -> str:
    """``duplicate key "image" (lines 7 and 9)`` for each duplicate, joined."""
    parts = []
    for key, lines in found:
        shown = ", ".join(str(n) for n in lines[:-1]) + f" and {lines[-1]}"
        parts.append(f'duplicate key "{key}" (lines {shown})')
    return "; ".join(parts)
