"""An edit never changes a workload it was not decided for, even through YAML's sharing.

A scalar written once can be read at several paths: an anchor used by aliases elsewhere, or
a mapping lent through a merge key (``<<: *base``). Splicing a new value into it changes
every one of those paths. So before a file is rewritten (and again when the result is read
back), every path that reads a value about to change must be one of:

* a site covered by an edit in the same rewrite that sets it to the same value (the resolver
  makes edits only for automated, unlocked sites whose policy picks that tag; a person's
  ``release`` names its workload);
* a value that is no image (a label, a hidden ``x-`` block holding the anchor) in the same
  workload as a site being changed.

Anything else (a locked, manual or ignored workload, one whose policy picks another tag, a
value in another item of a ``kind: List``) is reported, naming the anchor or merge key and
the other workload, and nothing in the file changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ruamel.yaml.nodes import Node

from imagebot.manifests import graph
from imagebot.manifests import yamlsource as ys
from imagebot.manifests.models import Edit, ImageSite, Part

Key = tuple[int, graph.Path]


@dataclass(frozen=True)
class Change:
    """One scalar an edit sets: the part it was read from and its new value."""

    edit: Edit
    part: Part
    value: str


def problems(
    source: ys.Source, changes: Sequence[Change], sites: Callable[[], Sequence[ImageSite]]
) -> list[str]:
    """One message per change whose value is also read where this rewrite may not change it.

    *sites* gives every site of the file (asked only when some changed value is shared)."""
    if "*" not in source.text or "&" not in source.text:
        return []  # without an anchor and an alias nothing is read at two paths
    wanted: dict[Key, str] = {(c.part.doc, c.part.path): c.value for c in changes}
    edited: dict[Key, Edit] = {(p.doc, p.path): c.edit for c in changes for p in c.edit.site.parts}
    found: list[str] = []
    docs: dict[int, dict[int, list[graph.Path]] | None] = {}
    for change in changes:
        index = change.part.doc
        if index not in docs:
            doc = source.docs[index]
            docs[index] = graph.occurrences(doc) if graph.has_shared_nodes(doc) else None
        occurrences = docs[index]
        if occurrences is None:
            continue
        doc = source.docs[index]
        node = ys.get_path(doc, change.part.path)
        paths = occurrences.get(id(node), []) if node is not None else []
        scopes = {_scope(doc, c.part.path) for c in changes if c.part.doc == index}
        for path in paths:
            if path == change.part.path or wanted.get((index, path)) == change.value:
                continue
            other = _other(doc, index, path, change, wanted, edited, scopes, sites)
            if other is None:
                continue
            found.append(
                f"{label(change.edit.site)}: {change.part.value!r} at line {change.part.line} "
                f"is shared through {graph.sharing(doc, change.part.path)} with {other}; "
                "nothing in this file changes"
            )
            break
    return found


def _other(
    doc: Node,
    index: int,
    path: graph.Path,
    change: Change,
    wanted: dict[Key, str],
    edited: dict[Key, Edit],
    scopes: set[graph.Path],
    sites: Callable[[], Sequence[ImageSite]],
) -> str | None:
    """Why the value read at *path* may not change (None: it may)."""
    line = _line(doc, path)
    edit = edited.get((index, path))
    if edit is not None:
        if (index, path) in wanted:
            now = f"sets to {wanted[(index, path)]!r}"
        else:
            now = "leaves as it is"
        return f"{_name(edit.site, line)}, which this change {now}"
    site = _site_at(sites(), index, path)
    if site is None:
        if _scope(doc, path) in scopes:
            return None  # no image: a copy in the same workload (a label, a hidden block)
        return f"the value at {_dotted(path)} (line {line}) in another workload"
    if site.locked:
        return f"a locked workload {_name(site, line)}"
    if site.ignored:
        return f"{_name(site, line)}, which is ignored"
    if not site.automated:
        return f"{_name(site, line)}, which is not automated"
    return f"{_name(site, line)}, which is not being updated to {change.value!r}"


def _site_at(sites: Sequence[ImageSite], index: int, path: graph.Path) -> ImageSite | None:
    for site in sites:
        if any(p.doc == index and p.path == path for p in site.parts):
            return site
    return None


def _scope(doc: Node, path: graph.Path) -> graph.Path:
    """The workload a path belongs to: an item of a ``kind: List``, else the document."""
    kind = ys.get_str(doc, "kind") or ""
    if kind.endswith("List") and len(path) >= 2 and path[0] == "items":
        return path[:2]
    return ()


def _line(doc: Node, path: graph.Path) -> int:
    found = graph.steps(doc, path)
    return found[-1].line if found else doc.start_mark.line + 1


def _dotted(path: graph.Path) -> str:
    return ".".join(str(key) for key in path) or "(document)"


def _name(site: ImageSite, line: int) -> str:
    return f"{site.workload} container {site.container} (line {line})"


def label(site: ImageSite) -> str:
    """``file:line: workload container name``: how rewrite messages start."""
    return f"{site.file}:{site.line}: {site.workload} container {site.container}"
