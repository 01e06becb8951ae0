"""Editing one workload's annotations in place, byte for byte.

``fluxctl automate``/``lock``/``policy`` changed a workload's annotations; Flux v1 did it by
re-serialising the document, which lost comments and quoting. Here the edit is a splice into
the original text, like :mod:`imagebot.manifests.rewrite`:

* a changed value replaces only the value's characters (its quote style is kept where it can
  hold the new value; a value that YAML would read as anything but a string is quoted);
* a new annotation is one new line after the last one, at its siblings' indentation (or
  ``, key: value`` inside a flow mapping's braces);
* a missing ``annotations:`` is created under ``metadata:`` after ``name``/``namespace``/
  ``labels``, indented like ``metadata``'s other keys;
* a removed annotation takes its line (and its comment) with it; when the last one goes,
  the ``annotations:`` key goes too, as Flux v1 did.

Line endings (CRLF), comments, odd indents, BOMs, other documents and every other byte stay
as they were. After the edit the file is parsed again and compared node by node with the old
one: unless exactly the intended annotations changed, nothing is returned but an error. What
cannot be edited safely (an annotations mapping shared through an anchor, a merge key, a
duplicate key, a null value) is refused with the file and line.

The second half of the module decides *which* keys express a policy, so the result reads back
through :mod:`imagebot.manifests.annotations` as intended and keeps the workload's convention
(``imagebot.io/``, Flux v1's ``fluxcd.io/`` or the legacy ``flux.weave.works/``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.errors import ManifestError
from imagebot.manifests import yamlsource as ys
from imagebot.manifests.annotations import FILTER, FLUX, IMAGEBOT, WEAVE, Annotation

ANNOTATIONS = "annotations"
#: Keys ``annotations:`` is placed after when it has to be created.
_AFTER_KEYS = ("name", "generateName", "namespace", "labels")
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")
_FLOW_UNSAFE = set(",[]{}")
_BREAKS = "\r\n"


# --- values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkloadDoc:
    """A document (or ``kind: List`` item) with ``kind`` and ``metadata``: what can be annotated.

    ``doc`` is the document's index in the file and ``path`` leads from the document to the
    object (``()``, or ``("items", 3)`` inside a List).
    """

    doc: int
    path: tuple[str | int, ...]
    kind: str
    api: str
    namespace: str | None
    name: str
    line: int
    annotations: dict[str, Annotation] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class AnnotationEdit:
    """Set *key* to *value* (a string), or remove it when *value* is None."""

    key: str
    value: str | None


@dataclass(frozen=True)
class AnnotationChange:
    """One annotation that changed: ``old`` None means added, ``new`` None means removed."""

    key: str
    old: str | None
    new: str | None

    def describe(self) -> str:
        if self.new is None:
            return f"- {self.key}"
        if self.old is None:
            return f"+ {self.key}: {self.new}"
        return f"~ {self.key}: {self.old} -> {self.new}"

    def to_dict(self) -> dict[str, str | None]:
        return {"key": self.key, "old": self.old, "new": self.new}


@dataclass
class AnnotateResult:
    content: bytes
    changes: list[AnnotationChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class _Refused(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


# --- finding the workloads of a file ---------------------------------------------------------


def find_workloads(content: bytes, file: str = "manifest.yaml") -> list[WorkloadDoc]:
    """Every object in *content* that has a ``kind`` and a ``metadata`` mapping."""
    source = _load(content, file)
    found: list[WorkloadDoc] = []
    for index, node in enumerate(source.docs):
        for path, obj in _objects(node):
            item = _workload_doc(index, path, obj)
            if item is not None:
                found.append(item)
    return found


def _objects(node: Node) -> list[tuple[tuple[str | int, ...], Node]]:
    out: list[tuple[tuple[str | int, ...], Node]] = [((), node)]
    kind = ys.get_str(node, "kind") or ""
    if kind == "List" or kind.endswith("List"):
        for j, item in enumerate(ys.seq(ys.get(node, "items"))):
            out.append((("items", j), item))
    return out


def _workload_doc(index: int, path: tuple[str | int, ...], node: Node) -> WorkloadDoc | None:
    kind = ys.get_str(node, "kind")
    metadata = ys.get(node, "metadata")
    if not kind or not isinstance(metadata, MappingNode):
        return None
    annotations: dict[str, Annotation] = {}
    for key, _, value in ys.items(ys.get(metadata, ANNOTATIONS)):
        line = value.start_mark.line + 1
        if isinstance(value, ScalarNode) and ys.scalar_text(value) is not None:
            annotations[key] = Annotation(value.value, ys.is_str(value), line)
        else:
            annotations[key] = Annotation("<not a string>", False, line)
    return WorkloadDoc(
        doc=index,
        path=path,
        kind=kind,
        api=ys.get_str(node, "apiVersion") or "",
        namespace=ys.get_str(metadata, "namespace"),
        name=ys.get_str(metadata, "name") or ys.get_str(metadata, "generateName") or "",
        line=node.start_mark.line + 1,
        annotations=annotations,
    )


# --- the edit ------------------------------------------------------------------------------


def annotate(
    content: bytes,
    target: WorkloadDoc,
    edits: Sequence[AnnotationEdit],
    *,
    file: str = "manifest.yaml",
) -> AnnotateResult:
    """Apply *edits* to *target*'s annotations in *content*; pure, all or nothing.

    Later edits of the same key win. Raises :class:`~imagebot.errors.ManifestError` naming the
    file and line when the edit cannot be made safely or would not read back as intended.
    """
    source = _load(content, file)
    try:
        return _annotate(source, target, edits, file)
    except _Refused as exc:
        raise ManifestError(
            f"{target.kind.lower()}/{target.name}: {exc.message}", file=file, line=exc.line
        ) from None


def _annotate(
    source: ys.Source, target: WorkloadDoc, edits: Sequence[AnnotationEdit], file: str
) -> AnnotateResult:
    _, metadata = _locate(source, target)
    old = _current(source, metadata)
    wanted: dict[str, str | None] = {}
    for edit in edits:
        if edit.value is not None:
            _check_text(edit.value, f"value of {edit.key}")
        _check_key(edit.key)
        wanted[edit.key] = edit.value
    existing = {key: (value, is_str) for key, value, is_str, _ in old or []}
    changes: list[AnnotationChange] = []
    for key, value in wanted.items():
        if key in existing:
            before, is_str = existing[key]
            if value is not None and before == value and is_str:
                continue
            changes.append(AnnotationChange(key, before, value))
        elif value is not None:
            changes.append(AnnotationChange(key, None, value))
    if not changes:
        return AnnotateResult(source.data)

    expected: list[tuple[str, str]] = []
    for key, value, _, _ in old or []:
        if key in wanted:
            new = wanted[key]
            if new is not None:
                expected.append((key, new))
        else:
            expected.append((key, value))
    expected.extend((c.key, c.new) for c in changes if c.old is None and c.new is not None)

    text = source.text
    if not expected:
        text = _remove_annotations(text, target)
    else:
        # Additions and changes first, removals last: the mapping never becomes empty.
        for change in sorted(changes, key=lambda c: c.new is None):
            text = _apply(text, target, change)
    new_content = text.encode("utf-8")
    _verify(source, new_content, target, expected, {c.key for c in changes})
    return AnnotateResult(new_content, changes)


def _load(content: bytes, file: str) -> ys.Source:
    try:
        return ys.load(content)
    except ys.YamlSyntaxError as exc:
        raise ManifestError(exc.message, file=file, line=exc.line) from None


def _locate(source: ys.Source, target: WorkloadDoc) -> tuple[Node, MappingNode]:
    doc = source.docs[target.doc] if 0 <= target.doc < len(source.docs) else None
    node = ys.get_path(doc, target.path) if doc is not None else None
    found = _workload_doc(target.doc, target.path, node) if node is not None else None
    wanted = (target.kind, target.namespace, target.name)
    if node is None or found is None or (found.kind, found.namespace, found.name) != wanted:
        raise _Refused("the workload is no longer where it was read (the file changed)")
    entry = _direct(node, "metadata")
    metadata = entry[2] if entry is not None else None
    if entry is None or not isinstance(metadata, MappingNode):
        raise _Refused("metadata is not a mapping written here", _line(node))
    key = entry[1]
    if _is_alias(key, metadata) or getattr(metadata, "anchor", None):
        raise _Refused("metadata is shared through an anchor; edit it by hand", _line(key))
    return node, metadata


def _current(source: ys.Source, metadata: MappingNode) -> list[tuple[str, str, bool, int]] | None:
    """``(key, value, is a string, line)`` of each annotation; None without ``annotations``."""
    entry = _direct(metadata, ANNOTATIONS)
    if entry is None:
        return None
    _, key_node, value = entry
    if _is_alias(key_node, value):
        raise _Refused(
            "annotations are an alias of another mapping; edit that one", _line(key_node)
        )
    if isinstance(value, ScalarNode) and value.tag == "tag:yaml.org,2002:null":
        return []
    if not isinstance(value, MappingNode):
        raise _Refused("annotations is not a mapping", _line(value))
    out = []
    seen: set[str] = set()
    for k, v in value.value:
        if not isinstance(k, ScalarNode) or k.tag == ys.MERGE_TAG:
            raise _Refused("annotations use a merge key or a complex key", _line(k))
        if k.value in seen:
            raise _Refused(f"annotation {k.value} is written twice", _line(k))
        seen.add(k.value)
        if isinstance(v, ScalarNode):
            out.append((k.value, v.value, ys.is_str(v), _line(v)))
        else:
            out.append((k.value, "<not a string>", False, _line(v)))
    return out


# --- node helpers --------------------------------------------------------------------------


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _direct(node: Node, key: str) -> tuple[int, ScalarNode, Node] | None:
    """``(index, key node, value node)`` of *key* written in this mapping itself (no merges)."""
    if not isinstance(node, MappingNode):
        return None
    found = None
    for i, (k, v) in enumerate(node.value):
        if isinstance(k, ScalarNode) and k.tag == ys.MERGE_TAG:
            raise _Refused("the mapping uses a merge key (<<); edit it by hand", _line(k))
        if isinstance(k, ScalarNode) and k.value == key:
            if found is not None:
                raise _Refused(f"{key} is written twice", _line(k))
            found = (i, k, v)
    return found


def _is_alias(key: Node, value: Node) -> bool:
    """A value that starts before its key ends was defined elsewhere: it is an alias."""
    return value.start_mark.index < key.end_mark.index


def _content_end(text: str, key: Node, value: Node) -> int:
    """Index just after the last character that belongs to *value* (comments excluded)."""
    if _is_alias(key, value):
        raise _Refused("a value here is an alias; edit it by hand", _line(key))
    if isinstance(value, ScalarNode):
        start, end = ys.scalar_extent(text, value)
        if start == end:  # an empty (null) value: the entry ends at its colon
            colon = text.find(":", key.end_mark.index)
            return colon + 1 if colon != -1 else key.end_mark.index
    return _node_end(text, value)


def _node_end(text: str, node: Node) -> int:
    if isinstance(node, ScalarNode):
        start, end = ys.scalar_extent(text, node)
        if ys.style_of(node) in ("|", ">"):
            while end > start and text[end - 1] in " \t\r\n":
                end -= 1
        return end
    if getattr(node, "flow_style", False) or not node.value:
        return node.end_mark.index
    if isinstance(node, MappingNode):
        last_key, last_value = node.value[-1]
        return _content_end(text, last_key, last_value)
    item = node.value[-1]
    if item.start_mark.index < node.start_mark.index:
        raise _Refused("a value here is an alias; edit it by hand", _line(node))
    return _node_end(text, item)


def _line_start(text: str, pos: int) -> int:
    return max(text.rfind("\n", 0, pos), text.rfind("\r", 0, pos)) + 1


def _after_line(text: str, pos: int, line: int) -> tuple[int, str | None]:
    """(index of the next line's start, the line break) for the line holding *pos*.

    Only blanks or a comment may follow *pos* on its line; the break is None at the end of
    a file without a final line break.
    """
    end = pos
    while end < len(text) and text[end] not in _BREAKS:
        end += 1
    rest = text[pos:end].strip(" \t")
    if rest and not rest.startswith("#"):
        raise _Refused("something else is written on the same line; edit it by hand", line)
    if end == len(text):
        return end, None
    brk = "\r\n" if text.startswith("\r\n", end) else text[end]
    return end + len(brk), brk


def _eol(text: str) -> str:
    match = re.search(r"\r\n|\n|\r", text)
    return match.group(0) if match else "\n"


def _key_column(text: str, mapping: MappingNode) -> int:
    first = mapping.value[0][0]
    start = _line_start(text, first.start_mark.index)
    if text[start : first.start_mark.index].strip(" "):
        raise _Refused("a key does not start its line; edit it by hand", _line(first))
    return first.start_mark.index - start


# --- rendering -----------------------------------------------------------------------------


def _check_text(value: str, what: str) -> None:
    if any(ord(c) < 0x20 and c not in "\t\n" for c in value) or "\x7f" in value:
        raise _Refused(f"{what} contains control characters")


def _check_key(key: str) -> None:
    if not key or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", key) or key.count("/") > 1:
        raise _Refused(f"{key!r} is not a valid annotation key")


def plain_ok(value: str, *, flow: bool = False) -> bool:
    """True when *value* may be written unquoted and still read as exactly this string."""
    if not value or value != value.strip(" \t") or value[0] in _INDICATORS:
        return False
    if any(not c.isprintable() or c in "\t\n\r\ufeff" for c in value):
        return False
    if ": " in value or " #" in value or value.endswith(":"):
        return False
    if flow and (any(c in _FLOW_UNSAFE for c in value) or ":" in value):
        return False
    return ys.plain_reads_as_string(value)


def double_quoted(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable() or ch in "\u2028\u2029\x85\ufeff":
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _single_ok(value: str) -> bool:
    return all(c.isprintable() and c not in "\u2028\u2029\x85\ufeff" for c in value)


def render_value(value: str, *, style: str = "", flow: bool = False) -> str:
    """*value* as a YAML scalar that reads back as exactly this string, in *style* if it can."""
    if style == "'" and _single_ok(value):
        return "'" + value.replace("'", "''") + "'"
    if style == "" and plain_ok(value, flow=flow):
        return value
    return double_quoted(value)


def _render_key(key: str, flow: bool) -> str:
    return key if plain_ok(key, flow=flow) else double_quoted(key)


def _preferred_style(mapping: Node) -> str:
    """Quote new values like the siblings do: single quotes if all quoted ones use them."""
    styles = {
        ys.style_of(v)
        for _, v in (mapping.value if isinstance(mapping, MappingNode) else [])
        if isinstance(v, ScalarNode) and ys.style_of(v) in ("'", '"')
    }
    return "'" if styles == {"'"} else ""


# --- one change ----------------------------------------------------------------------------


def _apply(text: str, target: WorkloadDoc, change: AnnotationChange) -> str:
    source = ys.Source(b"", text, ys.compose(text))
    node, metadata = _locate(source, target)
    entry = _direct(metadata, ANNOTATIONS)
    if change.new is None:
        assert entry is not None
        _, key_node, mapping = entry
        assert isinstance(mapping, MappingNode)
        _refuse_anchor(mapping, key_node)
        index = next(i for i, (k, _) in enumerate(mapping.value) if k.value == change.key)
        return _remove_entry(text, mapping, index)
    if entry is not None and isinstance(entry[2], MappingNode):
        mapping = entry[2]
        _refuse_anchor(mapping, entry[1])
        for k, v in mapping.value:
            if k.value == change.key:
                return _replace_value(text, k, v, change.new, flow=bool(mapping.flow_style))
        return _insert_entry(text, mapping, change.key, change.new)
    if entry is not None:  # annotations: (null)
        _, key_node, value = entry
        assert isinstance(value, ScalarNode)  # _current lets only a mapping or a null through
        start, end = ys.scalar_extent(text, value)
        if start != end:
            raise _Refused(
                f"annotations is {text[start:end]!r} (null); write the annotations by hand",
                _line(key_node),
            )
        return _insert_under_key(text, node, metadata, key_node, [(change.key, change.new)])
    _refuse_anchor(metadata, None)
    return _create_annotations(text, node, metadata, [(change.key, change.new)])


def _refuse_anchor(mapping: Node, key: Node | None) -> None:
    if getattr(mapping, "anchor", None):
        line = _line(key) if key is not None else _line(mapping)
        raise _Refused(
            f"the mapping has an anchor (&{mapping.anchor}) and may be shared; edit it by hand",
            line,
        )


def _replace_value(text: str, key: ScalarNode, value: Node, new: str, *, flow: bool) -> str:
    if _is_alias(key, value):
        raise _Refused(f"annotation {key.value} is an alias; edit it by hand", _line(key))
    if not isinstance(value, ScalarNode):
        raise _Refused(f"annotation {key.value} is not a string", _line(value))
    if getattr(value, "anchor", None):
        raise _Refused(f"annotation {key.value} has an anchor; edit it by hand", _line(value))
    start, end = ys.scalar_extent(text, value)
    if start == end:
        raise _Refused(f"annotation {key.value} has no value; remove it first", _line(key))
    style = ys.style_of(value)
    if style in ("|", ">"):
        end = _content_end(text, key, value)
        style = ""
    return text[:start] + render_value(new, style=style, flow=flow) + text[end:]


def _insert_entry(text: str, mapping: MappingNode, key: str, value: str) -> str:
    style = _preferred_style(mapping)
    if mapping.flow_style:
        return _insert_flow(text, mapping, [(key, value)], style)
    if not mapping.value:  # pragma: no cover - a block mapping always has an entry
        raise _Refused("empty block mapping", _line(mapping))
    column = _key_column(text, mapping)
    last_key, last_value = mapping.value[-1]
    end = _content_end(text, last_key, last_value)
    pos, brk = _after_line(text, end, _line(last_key))
    line = " " * column + f"{_render_key(key, False)}: {render_value(value, style=style)}"
    return _splice_line(text, pos, brk, [line])


def _splice_line(text: str, pos: int, brk: str | None, lines: list[str]) -> str:
    """Insert whole *lines* at *pos* (the start of a line, or the end of the text)."""
    if brk is None:  # the last line had no line break: keep it that way
        eol = _eol(text)
        return text[:pos] + "".join(eol + line for line in lines) + text[pos:]
    return text[:pos] + "".join(line + brk for line in lines) + text[pos:]


def _insert_flow(text: str, mapping: MappingNode, pairs: list[tuple[str, str]], style: str) -> str:
    rendered = ", ".join(
        f"{_render_key(k, True)}: {render_value(v, style=style, flow=True)}" for k, v in pairs
    )
    if not mapping.value:
        brace = mapping.start_mark.index
        if text[brace] != "{":
            raise _Refused("cannot find the mapping's opening brace", _line(mapping))
        return text[: brace + 1] + rendered + text[brace + 1 :]
    last_key, last_value = mapping.value[-1]
    end = _content_end(text, last_key, last_value)
    return text[:end] + ", " + rendered + text[end:]


def _indent_step(text: str, node: Node, metadata: MappingNode) -> int:
    """The file's indentation unit, measured on this workload: labels' children below labels,
    else metadata's keys below ``metadata``."""
    labels = _direct(metadata, "labels")
    if labels is not None:
        _, key, value = labels
        if isinstance(value, MappingNode) and not value.flow_style and value.value:
            step = _key_column(text, value) - _column(text, key)
            if step > 0:
                return step
    meta_key = _direct(node, "metadata")
    if meta_key is not None and not metadata.flow_style and metadata.value:
        step = _key_column(text, metadata) - _column(text, meta_key[1])
        if step > 0:
            return step
    return 2


def _column(text: str, node: Node) -> int:
    return node.start_mark.index - _line_start(text, node.start_mark.index)


def _insert_under_key(
    text: str,
    node: Node,
    metadata: MappingNode,
    key_node: ScalarNode,
    pairs: list[tuple[str, str]],
) -> str:
    """``annotations:`` with nothing after it: the entries go on the lines below."""
    column = _column(text, key_node) + _indent_step(text, node, metadata)
    colon = text.find(":", key_node.end_mark.index)
    pos, brk = _after_line(text, colon + 1, _line(key_node))
    lines = [" " * column + f"{_render_key(k, False)}: {render_value(v)}" for k, v in pairs]
    return _splice_line(text, pos, brk, lines)


def _create_annotations(
    text: str, node: Node, metadata: MappingNode, pairs: list[tuple[str, str]]
) -> str:
    if metadata.flow_style:
        inner = ", ".join(f"{_render_key(k, True)}: {render_value(v, flow=True)}" for k, v in pairs)
        if not metadata.value:
            brace = metadata.start_mark.index
            return text[: brace + 1] + f"{ANNOTATIONS}: {{{inner}}}" + text[brace + 1 :]
        last_key, last_value = metadata.value[-1]
        end = _content_end(text, last_key, last_value)
        return text[:end] + f", {ANNOTATIONS}: {{{inner}}}" + text[end:]
    column = _key_column(text, metadata)
    step = _indent_step(text, node, metadata)
    after = None
    for k, v in metadata.value:
        if k.value in _AFTER_KEYS:
            end = _content_end(text, k, v)
            if after is None or end > after[0]:
                after = (end, k)
    if after is None:
        last_key, last_value = metadata.value[-1]
        after = (_content_end(text, last_key, last_value), last_key)
    pos, brk = _after_line(text, after[0], _line(after[1]))
    lines = [" " * column + f"{ANNOTATIONS}:"]
    lines += [
        " " * (column + step) + f"{_render_key(k, False)}: {render_value(v)}" for k, v in pairs
    ]
    return _splice_line(text, pos, brk, lines)


def _remove_entry(text: str, mapping: MappingNode, index: int) -> str:
    key, value = mapping.value[index]
    if mapping.flow_style:
        return _remove_flow_entry(text, mapping, index)
    start = _line_start(text, key.start_mark.index)
    if text[start : key.start_mark.index].strip(" "):
        raise _Refused(f"{key.value} does not start its line; edit it by hand", _line(key))
    end = _content_end(text, key, value)
    pos, brk = _after_line(text, end, _line(key))
    if brk is None and start > 0:
        # The entry is the last line and has no line break: take the one before it instead.
        start -= 2 if text[start - 2 : start] == "\r\n" else 1
    return text[:start] + text[pos:]


def _remove_flow_entry(text: str, mapping: MappingNode, index: int) -> str:
    key, value = mapping.value[index]
    end = _content_end(text, key, value)
    count = len(mapping.value)
    if count == 1:
        start, stop = key.start_mark.index, end
    elif index > 0:
        prev_key, prev_value = mapping.value[index - 1]
        start, stop = _content_end(text, prev_key, prev_value), end
    else:
        start, stop = key.start_mark.index, mapping.value[1][0].start_mark.index
    gap = text[start:stop]
    inner = text[key.start_mark.index : end]
    if "#" in gap.replace(inner, "", 1):
        raise _Refused(f"a comment sits next to {key.value}; edit it by hand", _line(key))
    return text[:start] + text[stop:]


def _remove_annotations(text: str, target: WorkloadDoc) -> str:
    source = ys.Source(b"", text, ys.compose(text))
    _, metadata = _locate(source, target)
    entry = _direct(metadata, ANNOTATIONS)
    assert entry is not None
    index, key, value = entry
    _refuse_anchor(value, key)
    return _remove_entry(text, metadata, index)


# --- verification --------------------------------------------------------------------------


def _verify(
    source: ys.Source,
    new_content: bytes,
    target: WorkloadDoc,
    expected: list[tuple[str, str]],
    changed: set[str],
) -> None:
    try:
        new = ys.load(new_content)
    except ys.YamlSyntaxError as exc:
        raise _Refused(
            f"refused: the edited file would not be valid YAML ({exc.message})", exc.line
        ) from None
    if len(new.docs) != len(source.docs):
        raise _Refused("refused: the edit would change the number of documents")
    try:
        _, old_meta = _locate(source, target)
        _, new_meta = _locate(new, target)
    except _Refused:
        raise _Refused("refused: the edit would move the workload") from None
    problem = _compare(source.docs, new.docs, old_meta, new_meta, expected, changed)
    if problem is not None:
        raise _Refused(f"refused: the edited file would not read back as intended ({problem})")


def _compare(
    old_docs: list[Node],
    new_docs: list[Node],
    old_meta: MappingNode,
    new_meta: MappingNode,
    expected: list[tuple[str, str]],
    changed: set[str],
) -> str | None:
    """None when the new documents equal the old ones but for the expected annotations."""
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Node, Node]] = list(zip(old_docs, new_docs, strict=True))
    while stack:
        a, b = stack.pop()
        if (id(a), id(b)) in seen:
            continue
        seen.add((id(a), id(b)))
        where = f"line {a.start_mark.line + 1}"
        if not ys.same_kind(a, b) or a.tag != b.tag:
            return f"{where}: the structure changed"
        if isinstance(a, ScalarNode):
            if a.value != b.value:
                return f"{where}: {a.value!r} became {b.value!r}"
        elif isinstance(a, MappingNode):
            if a is old_meta or b is new_meta:
                if a is not old_meta or b is not new_meta:
                    return f"{where}: the metadata moved"
                problem = _compare_metadata(a, b, expected, changed, stack)
                if problem:
                    return problem
                continue
            if len(a.value) != len(b.value):
                return f"{where}: a mapping changed"
            for (ka, va), (kb, vb) in zip(a.value, b.value, strict=True):
                stack.extend([(ka, kb), (va, vb)])
        elif isinstance(a, SequenceNode):
            if len(a.value) != len(b.value):
                return f"{where}: a sequence changed"
            stack.extend(zip(a.value, b.value, strict=True))
    return None


def _compare_metadata(
    old: MappingNode,
    new: MappingNode,
    expected: list[tuple[str, str]],
    changed: set[str],
    stack: list[tuple[Node, Node]],
) -> str | None:
    pairs_old = [(k, v) for k, v in old.value if k.value != ANNOTATIONS]
    pairs_new = [(k, v) for k, v in new.value if k.value != ANNOTATIONS]
    if len(pairs_old) != len(pairs_new):
        return f"line {old.start_mark.line + 1}: metadata changed"
    for (ka, va), (kb, vb) in zip(pairs_old, pairs_new, strict=True):
        stack.extend([(ka, kb), (va, vb)])
    old_map = next((v for k, v in old.value if k.value == ANNOTATIONS), None)
    new_map = next((v for k, v in new.value if k.value == ANNOTATIONS), None)
    if not isinstance(new_map, MappingNode):
        if expected:
            return "the annotations are missing"
        return None if new_map is None or new_map.tag == "tag:yaml.org,2002:null" else "annotations"
    got = [(k.value, v) for k, v in new_map.value]
    if [k for k, _ in got] != [k for k, _ in expected]:
        return f"annotations read {[k for k, _ in got]}, not {[k for k, _ in expected]}"
    before = {k.value: v for k, v in old_map.value} if isinstance(old_map, MappingNode) else {}
    for (key, node), (_, want) in zip(got, expected, strict=True):
        if key in changed:
            if not ys.is_str(node) or node.value != want:
                return f"annotation {key} would not read as the string {want!r}"
        else:
            stack.append((before[key], node))
    return None


# --- which keys express a policy ------------------------------------------------------------

#: Prefixes imagebot reads boolean and tag policies under, strongest first.
POLICY_PREFIXES = (IMAGEBOT, FLUX, WEAVE)
_FLUX_V1_HINTS = (FLUX, FILTER, "repository.fluxcd.io/", "registry.fluxcd.io/", "tag.fluxcd.io/")


def keys_for(name: str) -> tuple[str, ...]:
    """Every annotation key that means policy *name* (``automated``, ``tag.<container>``...)."""
    keys = [prefix + name for prefix in POLICY_PREFIXES]
    if name.startswith("tag."):
        keys.append(FILTER + name[len("tag.") :])
    return tuple(keys)


def convention(annotations: Mapping[str, object]) -> str:
    """The prefix new keys get: the one the workload already uses, else ``imagebot.io/``.

    A Flux v1 repository stays a Flux v1 repository: ``fluxcd.io/`` (or the legacy
    ``flux.weave.works/``) when those are the workload's only policy annotations.
    """
    if any(key.startswith(IMAGEBOT) for key in annotations):
        return IMAGEBOT
    if any(key.startswith(_FLUX_V1_HINTS) for key in annotations):
        return FLUX
    if any(key.startswith(WEAVE) for key in annotations):
        return WEAVE
    return IMAGEBOT


def set_policy(annotations: Mapping[str, object], name: str, value: str) -> list[AnnotationEdit]:
    """Edits that make policy *name* read *value*: every key already saying it is updated
    (so no prefix contradicts another), else one key is added under the convention."""
    present = [key for key in keys_for(name) if key in annotations]
    if present:
        return [AnnotationEdit(key, value) for key in present]
    return [AnnotationEdit(convention(annotations) + name, value)]


def unset_policy(annotations: Mapping[str, object], name: str) -> list[AnnotationEdit]:
    """Edits that remove policy *name* under every prefix it is written with."""
    return [AnnotationEdit(key, None) for key in keys_for(name) if key in annotations]


def lock_edits(
    annotations: Mapping[str, object], message: str | None, user: str | None
) -> list[AnnotationEdit]:
    """Edits that lock a workload: ``locked: "true"`` with ``locked_msg`` *message* and
    ``locked_user`` *user*; one left from an earlier lock is removed when not given, rather
    than misattributed."""
    edits = set_policy(annotations, "locked", "true")
    for name, value in (("locked_msg", message), ("locked_user", user)):
        if value is None:
            edits += unset_policy(annotations, name)
        else:
            edits += set_policy(annotations, name, value)
    return edits


__all__ = [
    "POLICY_PREFIXES",
    "AnnotateResult",
    "AnnotationChange",
    "AnnotationEdit",
    "WorkloadDoc",
    "annotate",
    "convention",
    "double_quoted",
    "find_workloads",
    "keys_for",
    "lock_edits",
    "plain_ok",
    "render_value",
    "set_policy",
    "unset_policy",
]
