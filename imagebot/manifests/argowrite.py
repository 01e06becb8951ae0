"""Writing an image where Argo CD Image Updater writes it, and nothing else.

Argo CD Image Updater (git write-back) writes a new image to one of four places; imagebot
writes the same values to the same place:

``source-kustomize`` / ``source-helm``
    ``.argocd-source-<app>.yaml`` in the Application's source path, which Argo CD reads as
    parameter overrides: ``kustomize.images`` (``[<kustomize name>=]<image>:<tag>[@digest]``
    strings) or ``helm.parameters`` (``name`` / ``value`` / ``forcestring``). The tool
    creates it the first time, copying the Application's own overrides into it (and adds
    those it lacks to an existing one); so does imagebot, in the tool's layout (two-space
    indent, list items not indented).
``kustomization``
    the ``images:`` entry named like the image (``name``, ``newName``, ``newTag``,
    ``digest``), as ``kustomize edit set image`` would set it.
``helmvalues``
    the values at the Helm parameter paths (``image.tag`` is the key ``image.tag`` when the
    file has it, else ``tag`` under ``image``), created when missing.

An existing value is spliced at its own bytes (its quoting kept, see
:func:`imagebot.manifests.rewrite.render_scalar`); an entry, parameter or key that is not
there yet is added as new lines after the last one of its list or mapping, indented as the
file indents. Nothing else in the file changes. The result is read back and compared, as
data, with the old file plus exactly the intended values; when it reads otherwise, nothing is
written to that file and every edit of it says why.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.manifests import yamlsource as ys

TargetKind = Literal["source-kustomize", "source-helm", "kustomization", "helmvalues"]

#: The Helm parameters Argo CD Image Updater sets when no ``helm.image-name``/``-tag`` says.
DEFAULT_HELM_NAME = "image.name"
DEFAULT_HELM_TAG = "image.tag"


@dataclass(frozen=True)
class WriteTarget:
    """Where and how one configured image is written (see the module docstring)."""

    kind: TargetKind
    file: str
    #: ``namespace/name`` of the Application (or ``name``), for messages.
    app: str
    #: The image name as the configuration writes it (``image-list`` / ``imageName``).
    name: str
    kustomize_name: str | None = None
    helm_name: str | None = None
    helm_tag: str | None = None
    helm_spec: str | None = None
    #: What a new ``.argocd-source`` file starts from: the Application's own
    #: ``kustomize.images`` or ``helm.parameters`` (name, value, forceString), as the tool
    #: copies them into the file it creates.
    seed_images: tuple[str, ...] = ()
    seed_parameters: tuple[tuple[str, str, bool], ...] = ()

    @property
    def key(self) -> str:
        """The kustomize image name the value is filed under."""
        return self.kustomize_name or self.name

    def helm_values(self, tag: str | None, digest: str | None) -> list[tuple[str, str]]:
        """(parameter, value) pairs a Helm target sets, as the tool sets them."""
        if self.helm_spec:
            return [(self.helm_spec, reference_text(self.name, tag, digest))]
        tag_text = tag or ""
        if digest:
            tag_text = f"{tag or 'latest'}@{digest}"
        return [
            (self.helm_name or DEFAULT_HELM_NAME, self.name),
            (self.helm_tag or DEFAULT_HELM_TAG, tag_text),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "application": self.app,
            "name": self.name,
            "kustomize_name": self.kustomize_name,
            "helm_name": self.helm_name,
            "helm_tag": self.helm_tag,
            "helm_spec": self.helm_spec,
        }


def reference_text(name: str, tag: str | None, digest: str | None) -> str:
    """``name[:tag][@digest]``: the tool's full name with tag (a digest keeps its tag)."""
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def kustomize_entry(target: WriteTarget, tag: str | None, digest: str | None) -> str:
    """The ``kustomize.images`` string: ``[<kustomize name>=]<image>:<tag>[@digest]``."""
    ref = reference_text(target.name, tag, digest)
    return f"{target.kustomize_name}={ref}" if target.kustomize_name else ref


def entry_key(entry: str) -> str:
    """The image name a ``kustomize.images`` string is filed under (left of ``=``, else the
    name without tag or digest), as Argo CD matches them."""
    if "=" in entry:
        return entry.split("=", 1)[0]
    name = entry.split("@", 1)[0]
    colon = name.rfind(":")
    return name[:colon] if colon > name.rfind("/") else name


@dataclass(frozen=True)
class WriteEdit:
    """Set one target to a tag (and digest). ``label`` starts every message about it."""

    target: WriteTarget
    tag: str | None
    digest: str | None
    label: str


@dataclass
class WriteResult:
    content: bytes
    applied: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Refused(Exception):
    pass


# --- the plain reading a result is compared in ------------------------------------------------


@dataclass(frozen=True)
class Typed:
    """A scalar that is not a string (``true``, ``1``, ``null``), compared with its type."""

    tag: str
    value: str


def plain(node: Node | None, depth: int = 0) -> Any:
    """A composed node as plain data: strings, :class:`Typed` scalars, dicts and lists."""
    if node is None or depth > 100:
        return None
    if isinstance(node, ScalarNode):
        return node.value if node.tag == ys.STR_TAG else Typed(str(node.tag), node.value)
    if isinstance(node, MappingNode):
        return {key: plain(value, depth + 1) for key, _, value in ys.items(node)}
    if isinstance(node, SequenceNode):
        return [plain(item, depth + 1) for item in node.value]
    return None


_TRUE = Typed("tag:yaml.org,2002:bool", "true")
_FALSE = Typed("tag:yaml.org,2002:bool", "false")


# --- text for new values -------------------------------------------------------------------------


def scalar_text(value: Any) -> str:
    """*value* as a scalar the way Go's YAML writers put it: plain when it reads back as the
    same string, else double-quoted."""
    if isinstance(value, Typed):
        return value.value
    text = str(value)
    if text and _plain_safe(text) and ys.plain_reads_as_string(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _plain_safe(text: str) -> bool:
    if text[0] in "-?:,[]{}#&*!|>'\"%@`" or text != text.strip():
        return False
    return ": " not in text and " #" not in text and not text.endswith(":") and "\n" not in text


def _emit(value: Any, col: int, seq_indent: int) -> list[str]:
    """Block lines for a mapping or list at column *col* (no trailing newlines)."""
    pad = " " * col
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict):
                lines.append(f"{pad}{key}:")
                lines.extend(_emit(item, col + 2, seq_indent))
            elif isinstance(item, list):
                lines.append(f"{pad}{key}:")
                lines.extend(_emit(item, col + seq_indent, seq_indent))
            else:
                lines.append(f"{pad}{key}: {scalar_text(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                inner = _emit(item, col + 2, seq_indent)
                lines.append(f"{pad}- {inner[0][col + 2 :]}")
                lines.extend(inner[1:])
            else:
                lines.append(f"{pad}- {scalar_text(item)}")
    return lines


# --- one file ---------------------------------------------------------------------------------

_Path = tuple[str | int, ...]


class _File:
    """One file's text with planned splices and additions, and the data it should read as.

    Additions are kept as plain data until :meth:`render`: new keys per mapping and new items
    per list (by document and path), so that several edits can add to one new list."""

    def __init__(self, content: bytes | None) -> None:
        self.data = content or b""
        self.source = ys.load(self.data) if self.data.strip() else None
        self.text = self.source.text if self.source is not None else ""
        self.docs = self.source.docs if self.source is not None else []
        self.expected: list[Any] = [plain(doc) for doc in self.docs]
        self.splices: dict[int, tuple[int, str, str]] = {}
        self.added: dict[tuple[int, _Path], dict[str, Any]] = {}
        self.appended: dict[tuple[int, _Path], list[Any]] = {}
        self.nodes: dict[tuple[int, _Path], Node] = {}
        self.created: dict[str, Any] | None = None
        #: Keys written without a value (``images:``) that get a list: (document, path) ->
        #: (the key's node, the column of its list, the items).
        self.filled: dict[tuple[int, _Path], tuple[Node, int, list[Any]]] = {}
        self.seq_indent = _sequence_indent(self.docs)

    def snapshot(self) -> tuple[Any, ...]:
        return (
            dict(self.splices),
            copy.deepcopy(self.added),
            copy.deepcopy(self.appended),
            copy.deepcopy(self.expected),
            copy.deepcopy(self.created),
            {k: (n, c, copy.deepcopy(i)) for k, (n, c, i) in self.filled.items()},
        )

    def restore(self, saved: tuple[Any, ...]) -> None:
        self.splices, self.added, self.appended, self.expected, self.created, self.filled = saved

    def root(self, *, kustomization: bool = False) -> tuple[int, MappingNode] | None:
        for i, doc in enumerate(self.docs):
            if not isinstance(doc, MappingNode):
                continue
            kind = ys.get_str(doc, "kind")
            if not kustomization or kind in (None, "Kustomization", "Component"):
                return i, doc
        return None

    def splice(self, doc: int, path: _Path, node: ScalarNode, new_value: str) -> None:
        """Set the existing scalar *node* (at *path* of document *doc*) to *new_value*."""
        from imagebot.manifests.rewrite import _Refused as RewriteRefused
        from imagebot.manifests.rewrite import render_scalar

        start, end = ys.scalar_extent(self.text, node)
        earlier = self.splices.get(start)
        if earlier is not None and earlier[2] != new_value:
            raise _Refused(
                f"line {node.start_mark.line + 1}: another image sets this value to {earlier[2]!r}"
            )
        exp = self.expected[doc]
        for key in path[:-1]:
            exp = exp[key]
        exp[path[-1]] = new_value
        if node.value == new_value:
            return
        try:
            raw, _ = render_scalar(self.text, node, new_value)
        except RewriteRefused as exc:
            raise _Refused(f"line {node.start_mark.line + 1}: {exc}") from None
        self.splices[start] = (end, raw, new_value)

    def add_key(self, doc: int, path: _Path, mapping: MappingNode, key: str, value: Any) -> Any:
        """``key: value`` added at the end of the block *mapping*; returns the value as kept
        (later edits may add to it)."""
        _block(mapping, f"the mapping at line {mapping.start_mark.line + 1}")
        if not mapping.value:
            raise _Refused(f"line {mapping.start_mark.line + 1}: an empty mapping; not edited")
        self.nodes[(doc, path)] = mapping
        keys = self.added.setdefault((doc, path), {})
        keys[key] = value
        return keys[key]

    def new_items(self, doc: int, path: _Path, seq: SequenceNode) -> list[Any]:
        """The items being added at the end of the block list *seq* (a list to add to)."""
        _block(seq, f"the list at line {seq.start_mark.line + 1}")
        if not seq.value:
            raise _Refused(f"line {seq.start_mark.line + 1}: an empty list; not edited")
        self.nodes[(doc, path)] = seq
        return self.appended.setdefault((doc, path), [])

    # -- result

    def render(self) -> bytes:
        if self.created is not None:
            return ("\n".join(_emit(self.created, 0, 0)) + "\n").encode("utf-8")
        inserts: dict[int, list[str]] = {}
        for where, keys in self.added.items():
            mapping = self.nodes[where]
            assert isinstance(mapping, MappingNode)
            lines = _emit(keys, _key_column(mapping), self.seq_indent)
            self._insert_after(inserts, mapping, lines)
        for where, items in self.appended.items():
            seq = self.nodes[where]
            assert isinstance(seq, SequenceNode)
            if items:
                self._insert_after(inserts, seq.value[-1], _items(seq, items, self.seq_indent))
        for key, column, items in self.filled.values():
            self._insert_after(inserts, key, _emit(items, column, self.seq_indent))
        out: list[str] = []
        pos = 0
        for point in sorted(set(self.splices) | set(inserts)):
            out.append(self.text[pos:point])
            pos = point
            out.extend(inserts.get(point, []))
            if point in self.splices:
                end, raw, _ = self.splices[point]
                out.append(raw)
                pos = end
        out.append(self.text[pos:])
        return "".join(out).encode("utf-8")

    def _insert_after(self, inserts: dict[int, list[str]], node: Node, lines: list[str]) -> None:
        end = _content_end(node)
        newline = self.text.find("\n", end)
        if newline == -1:
            pos, prefix = len(self.text), "\n"
        else:
            pos, prefix = newline + 1, ""
        inserts.setdefault(pos, []).append(prefix + "".join(line + "\n" for line in lines))

    def want(self) -> list[Any]:
        if self.created is not None:
            return [self.created]
        expected = copy.deepcopy(self.expected)
        for (doc, path), keys in self.added.items():
            node = expected[doc]
            for key in path:
                node = node[key]
            node.update(copy.deepcopy(keys))
        for (doc, path), items in self.appended.items():
            node = expected[doc]
            for key in path:
                node = node[key]
            node.extend(copy.deepcopy(items))
        for (doc, path), (_, _, items) in self.filled.items():
            node = expected[doc]
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = copy.deepcopy(items)
        return expected

    def verify(self, new: bytes) -> str | None:
        try:
            source = ys.load(new)
        except ys.YamlSyntaxError as exc:
            return f"line {exc.line}: {exc.message}"
        if [plain(doc) for doc in source.docs] != self.want():
            return "would not read as the old file plus the new values"
        return None


def _items(seq: SequenceNode, items: list[Any], seq_indent: int) -> list[str]:
    """Lines for new *items* of *seq*, indented as its first item is."""
    lines = _emit(items, int(seq.start_mark.column), seq_indent)
    first = seq.value[0]
    if isinstance(first, MappingNode) and first.value:
        gap = _key_column(first) - int(seq.start_mark.column) - 2
        if gap > 0:  # keep the file's own offset of keys after "- "
            shifted = []
            for line in lines:
                stripped = line.lstrip(" ")
                if stripped.startswith("- ") and len(line) - len(stripped) == seq.start_mark.column:
                    shifted.append(line.replace("- ", "-" + " " * (gap + 1), 1))
                else:
                    shifted.append(" " * gap + line)
            lines = shifted
    return lines


def _content_end(node: Node) -> int:
    """Index just past the last character of *node*'s own content (not trailing comments)."""
    if isinstance(node, ScalarNode):
        return int(node.end_mark.index)
    ends: list[int] = []
    if isinstance(node, MappingNode):
        for key, value in node.value:
            ends += [_content_end(key), _content_end(value)]
    elif isinstance(node, SequenceNode):
        ends = [_content_end(v) for v in node.value]
    if getattr(node, "flow_style", False) or not ends:
        return int(node.end_mark.index)
    return max(ends)


def _sequence_indent(docs: list[Node]) -> int:
    """How far the file indents a block list under its key: what its first such list does,
    else 0 (kustomize's and the tool's own layout)."""
    for doc in docs:
        stack: list[Node] = [doc]
        while stack:
            node = stack.pop()
            if isinstance(node, MappingNode):
                for key, value in node.value:
                    if isinstance(value, SequenceNode) and not value.flow_style and value.value:
                        return max(0, int(value.start_mark.column) - int(key.start_mark.column))
                    stack.append(value)
            elif isinstance(node, SequenceNode):
                stack.extend(node.value)
    return 0


def _block(node: Node | None, what: str) -> None:
    if node is not None and getattr(node, "flow_style", False):
        raise _Refused(f"{what} is written in flow style ({{...}} or [...]); not edited")


def _key_column(mapping: MappingNode) -> int:
    return int(mapping.value[0][0].start_mark.column) if mapping.value else 0


def _nested(keys: Sequence[str], leaf: Any) -> Any:
    value = leaf
    for key in reversed(keys):
        value = {key: value}
    return value


@dataclass
class _At:
    """What :func:`_ensure` found: the existing node and its path, or (``node`` None) the new
    plain container being added there."""

    node: Node | None
    path: _Path
    pending: Any = None


def _ensure(file: _File, doc: int, root: MappingNode, keys: Sequence[str], empty: Any) -> _At:
    """The node at *keys* under *root*, or, when the path is missing, a new plain container
    there (*empty*, or the one an earlier edit added) to add to."""
    node: Node = root
    path: _Path = ()
    for i, key in enumerate(keys):
        if not isinstance(node, MappingNode):
            raise _Refused(
                f"line {node.start_mark.line + 1}: {'.'.join(keys[:i])} is not a mapping"
            )
        child = ys.get(node, key)
        if child is None:
            pending = file.added.get((doc, path), {})
            if key in pending:
                value = pending[key]
            else:
                value = file.add_key(doc, path, node, key, _nested(keys[i + 1 :], empty))
            rest = keys[i + 1 :]
            for j, name in enumerate(rest):
                value = value.setdefault(name, copy.deepcopy(empty) if j == len(rest) - 1 else {})
            return _At(None, path, value)
        node = child
        path = (*path, key)
    return _At(node, path)


# --- the four targets ----------------------------------------------------------------------------


def _list_at(
    file: _File,
    keys: Sequence[str],
    add: Callable[[list[Any]], None],
    *,
    kustomization: bool = False,
) -> tuple[int, SequenceNode, _Path] | None:
    """The existing list at *keys* (document, node, path); when there is none yet, *add* is
    given the new list being added there and None is returned."""
    found = file.root(kustomization=kustomization)
    if found is None:
        raise _Refused("no kustomization in the file" if kustomization else "no mapping in it")
    index, root = found
    at = _ensure(file, index, root, keys, [])
    if at.node is None:
        add(at.pending)
        return None
    empty = _empty_value(file, index, root, at)
    if empty is not None:
        add(empty)
        return None
    if not isinstance(at.node, SequenceNode):
        raise _Refused(f"line {at.node.start_mark.line + 1}: {'.'.join(keys)} is not a list")
    return index, at.node, at.path


def _empty_value(file: _File, doc: int, root: MappingNode, at: _At) -> list[Any] | None:
    """The list being written under a key that has no value yet (``images:``), else None."""
    node = at.node
    if not isinstance(node, ScalarNode) or node.value != "" or not str(node.tag).endswith("null"):
        return None
    where = (doc, at.path)
    if where not in file.filled:
        parent = ys.get_path(root, at.path[:-1]) if at.path[:-1] else root
        if not isinstance(parent, MappingNode) or getattr(parent, "flow_style", False):
            return None
        key = next(k for k, v in parent.value if v is node)
        file.filled[where] = (key, _key_column(parent) + file.seq_indent, [])
    return file.filled[where][2]


def _source_kustomize(file: _File, edit: WriteEdit) -> None:
    target = edit.target
    entry = kustomize_entry(target, edit.tag, edit.digest)
    if file.created is None and not file.docs:
        file.created = {"kustomize": {"images": list(target.seed_images)}}
    if file.created is not None:
        _merge_entry(file.created["kustomize"]["images"], entry)
        return
    listed = _list_at(file, ("kustomize", "images"), lambda new: _merge_entry(new, entry))
    if listed is None:
        return
    index, seq, path = listed
    written = {entry_key(i.value) for i in seq.value if isinstance(i, ScalarNode)}
    # the tool merges the Application's own images into the file too, in their order
    todo = list(target.seed_images)
    _merge_entry(todo, entry)
    for value in todo:
        key = entry_key(value)
        if value != entry:
            new = file.new_items(index, path, seq)
            if key not in written and all(entry_key(e) != key for e in new):
                new.append(value)
            continue
        for i, item in enumerate(seq.value):
            if isinstance(item, ScalarNode) and entry_key(item.value) == key:
                file.splice(index, (*path, i), item, entry)
                break
        else:
            _merge_entry(file.new_items(index, path, seq), entry)


def _merge_entry(images: list[Any], entry: str) -> None:
    key = entry_key(entry)
    for i, existing in enumerate(images):
        if isinstance(existing, str) and entry_key(existing) == key:
            images[i] = entry
            return
    images.append(entry)


def _merge_params(params: list[Any], items: list[dict[str, Any]]) -> None:
    for item in items:
        for i, existing in enumerate(params):
            if isinstance(existing, dict) and existing.get("name") == item["name"]:
                params[i] = item
                break
        else:
            params.append(item)


def _seeds(target: WriteTarget) -> list[dict[str, Any]]:
    """The Application's own Helm parameters, as the tool copies them into the file (their
    ``forcestring`` as the Application says; an image's own values always force strings)."""
    return [
        {"name": name, "value": value, "forcestring": _TRUE if force else _FALSE}
        for name, value, force in target.seed_parameters
    ]


def _source_helm(file: _File, edit: WriteEdit) -> None:
    items = [
        {"name": n, "value": v, "forcestring": _TRUE}
        for n, v in edit.target.helm_values(edit.tag, edit.digest)
    ]
    if file.created is None and not file.docs:
        file.created = {"helm": {"parameters": _seeds(edit.target)}}
    if file.created is not None:
        params = file.created["helm"]["parameters"]
        _merge_params(params, items)
        params.sort(key=lambda p: str(p.get("name")))  # the tool's order
        return
    listed = _list_at(file, ("helm", "parameters"), lambda new: _merge_params(new, items))
    if listed is None:
        return
    index, seq, path = listed
    # in the tool's order: the Application's own parameters, then the image's new ones
    todo = [(seed, False) for seed in _seeds(edit.target)]
    for item in items:
        at = next((i for i, (p, _) in enumerate(todo) if p["name"] == item["name"]), None)
        if at is None:
            todo.append((item, True))
        else:
            todo[at] = (item, True)
    for item, own in todo:
        for i, node in enumerate(seq.value):
            if ys.get_str(node, "name") == item["name"]:
                value = ys.get(node, "value")
                if not isinstance(value, ScalarNode):
                    raise _Refused(
                        f"line {node.start_mark.line + 1}: parameter {item['name']} has no value"
                    )
                if own:  # a copied parameter already in the file stays as it is
                    file.splice(index, (*path, i, "value"), value, str(item["value"]))
                break
        else:
            new = file.new_items(index, path, seq)
            if own or all(p.get("name") != item["name"] for p in new):
                _merge_params(new, [item])


def _kustomization(file: _File, edit: WriteEdit) -> None:
    target = edit.target
    wanted: dict[str, str] = {"name": target.key}
    if target.kustomize_name:
        wanted["newName"] = target.name
    if edit.tag:
        wanted["newTag"] = edit.tag
    if edit.digest:
        wanted["digest"] = edit.digest
    listed = _list_at(file, ("images",), lambda new: _merge_image(new, wanted), kustomization=True)
    if listed is None:
        return
    index, seq, path = listed
    for i, node in enumerate(seq.value):
        if not isinstance(node, MappingNode) or ys.get_str(node, "name") != target.key:
            continue
        _block(node, f"the images entry at line {node.start_mark.line + 1}")
        for key in ("newName", "newTag", "digest"):
            value = ys.get(node, key)
            if key not in wanted:
                if value is not None and ys.scalar_text(value):
                    raise _Refused(
                        f"line {value.start_mark.line + 1}: the entry for {target.key} sets "
                        f"{key}, which Argo CD Image Updater would drop; not edited"
                    )
                continue
            if isinstance(value, ScalarNode):
                file.splice(index, (*path, i, key), value, wanted[key])
            elif value is None:
                file.add_key(index, (*path, i), node, key, wanted[key])
            else:
                raise _Refused(f"line {value.start_mark.line + 1}: {key} is not a value")
        return
    _merge_image(file.new_items(index, path, seq), wanted)


def _merge_image(images: list[Any], wanted: dict[str, Any]) -> None:
    for i, existing in enumerate(images):
        if isinstance(existing, dict) and existing.get("name") == wanted["name"]:
            images[i] = wanted
            return
    images.append(wanted)


def _helm_values(file: _File, edit: WriteEdit) -> None:
    values = edit.target.helm_values(edit.tag, edit.digest)
    if file.created is None and not file.docs:
        file.created = {}
    if file.created is not None:
        for name, value in values:
            keys = name.split(".")
            node = file.created
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = value
        return
    found = file.root()
    if found is None:
        raise _Refused("the values file holds no mapping")
    index, root = found
    for name, value in values:
        literal = ys.get(root, name)
        if isinstance(literal, ScalarNode) and "." in name:
            file.splice(index, (name,), literal, value)
            continue
        keys = name.split(".")
        at = _ensure(file, index, root, keys[:-1], {})
        if at.node is None:
            at.pending[keys[-1]] = value
            continue
        parent, path = at.node, at.path
        if not isinstance(parent, MappingNode):
            raise _Refused(f"line {parent.start_mark.line + 1}: {name} is not under a mapping")
        leaf = ys.get(parent, keys[-1])
        if leaf is None:
            pending = file.added.get((index, path), {})
            if keys[-1] in pending:
                pending[keys[-1]] = value
            else:
                file.add_key(index, path, parent, keys[-1], value)
        elif isinstance(leaf, ScalarNode):
            file.splice(index, (*path, keys[-1]), leaf, value)
        else:
            raise _Refused(f"line {leaf.start_mark.line + 1}: {name} is not a single value")


_WRITERS = {
    "source-kustomize": _source_kustomize,
    "source-helm": _source_helm,
    "kustomization": _kustomization,
    "helmvalues": _helm_values,
}


def write_back(content: bytes | None, edits: Sequence[WriteEdit]) -> WriteResult:
    """Apply *edits* (all to one file; *content* None: the file does not exist). Pure.

    An edit that cannot be made is in ``errors`` and the others still apply; if the result
    does not read back as intended, none applies."""
    result = WriteResult(content or b"")
    if not edits:
        return result
    try:
        file = _File(content)
    except ys.YamlSyntaxError as exc:
        where = f"line {exc.line}: " if exc.line else ""
        result.errors.extend(
            f"{e.label}: {e.target.file} is not readable YAML: {where}{exc.message}" for e in edits
        )
        return result
    for i, edit in enumerate(edits):
        if content is None and edit.target.kind in ("kustomization",):
            result.errors.append(f"{edit.label}: {edit.target.file} does not exist")
            continue
        saved = file.snapshot()
        try:
            _WRITERS[edit.target.kind](file, edit)
        except _Refused as exc:
            file.restore(saved)
            result.errors.append(f"{edit.label}: {edit.target.file}: {exc}")
            continue
        result.applied.append(i)
    if not result.applied:
        return result
    new = file.render()
    problem = file.verify(new)
    if problem is not None:
        result.errors.extend(
            f"{edits[i].label}: refused: {edits[i].target.file} {problem}" for i in result.applied
        )
        result.applied = []
        return result
    if content is None:
        result.notes.append(f"{edits[0].target.file}: created")
    result.content = new
    return result


__all__ = [
    "DEFAULT_HELM_NAME",
    "DEFAULT_HELM_TAG",
    "Typed",
    "WriteEdit",
    "WriteResult",
    "WriteTarget",
    "entry_key",
    "kustomize_entry",
    "plain",
    "reference_text",
    "write_back",
]
