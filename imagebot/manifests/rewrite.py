"""Changing an image value in a manifest and nothing else.

The new file is the old bytes with the changed scalars spliced in at their exact byte spans:
comments, quoting, indentation, line endings, blank lines, anchors, block scalars and every
other document stay byte-for-byte. A quoted value keeps its quotes; an unquoted one is quoted
only when the new value would otherwise read as a number, boolean or date (and the old one did
not), and a note says so. After splicing, the result must be shown to read as the old file
with the intended values: either from the bytes alone (one-line values of self-delimiting
forms, in a file where nothing is shared, see :func:`_proven_without_reading`) or by parsing
it again and comparing. If anything but the intended values could differ, nothing is written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.errors import ImagebotError
from imagebot.manifests import graph, sharing
from imagebot.manifests import yamlsource as ys
from imagebot.manifests.discovery import sites_in
from imagebot.manifests.models import Edit, FileChange, ImageSite, Part, RewriteResult
from imagebot.reference import ImageReference, validate_digest, validate_tag

log = logging.getLogger(__name__)


class _Refused(Exception):
    """An edit that cannot be made safely; the message says why."""


class _Shared(_Refused):
    """Two edits set one shared value to different values: nothing in the file changes."""


@dataclass
class _Splice:
    node: ScalarNode
    start: int  # character offsets in the decoded text
    end: int
    new_value: str
    new_raw: str
    edit: Edit


_where = sharing.label


# --- what each scalar should become ----------------------------------------------------------


def _split_reference(text: str) -> tuple[str, str | None, str | None]:
    """``name[:tag][@digest]`` into its pieces, exactly as written."""
    rest, at, digest = text.partition("@")
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        return rest[:colon], rest[colon + 1 :], digest if at else None
    return rest, None, digest if at else None


def _join_reference(name: str, tag: str | None, digest: str | None) -> str:
    return (
        name + (f":{tag}" if tag is not None else "") + (f"@{digest}" if digest is not None else "")
    )


def plan_values(edit: Edit) -> tuple[list[tuple[Part, str]], list[str], ImageReference]:
    """The new value of each scalar an edit changes, notes, and the reference it yields."""
    site = edit.site
    if site.image is None:
        raise _Refused(f"the image could not be read ({site.error or 'no reference'})")
    current = site.image
    notes: list[str] = []
    try:
        new_tag = validate_tag(edit.new_tag) if edit.new_tag is not None else current.tag
        new_digest = validate_digest(edit.new_digest) if edit.new_digest is not None else None
        if edit.new_name is not None:
            named = ImageReference.parse(edit.new_name)
            if named.tag or named.digest:
                raise _Refused(f"new name {edit.new_name!r} has a tag or digest")
    except ImagebotError as exc:
        raise _Refused(str(exc)) from None
    if site.policy_image is not None:
        return _plan_setter(edit, new_tag, new_digest), notes, current
    new_name = edit.new_name if edit.new_name is not None else current.written_name

    parts = {p.role: p for p in site.parts}
    tag_part = parts.get("tag")
    # "tag: 0.1@sha256:..." holds the tag and its pin in one value; both change together.
    pinned_tag = tag_part is not None and "@" in tag_part.value
    has_digest_slot = (
        "digest" in parts or pinned_tag or ("image" in parts and current.digest is not None)
    )
    if current.digest is not None:
        if new_digest is None:
            if new_tag != current.tag or new_name != current.written_name:
                raise _Refused(
                    f"{site.reference_text} is pinned by digest: the new tag's digest is needed "
                    "to change it"
                )
            new_digest = current.digest
    elif new_digest is not None:
        if not has_digest_slot:
            notes.append(f"{_where(site)}: digest not written: {site.reference_text} has none")
        new_digest = None

    changes: list[tuple[Part, str]] = []
    registry = parts.get("registry")
    name_rest = new_name
    if registry is not None:
        if new_name != current.written_name:
            head, slash, tail = new_name.partition("/")
            if not slash:
                raise _Refused(f"new name {new_name!r} has no registry for the registry value")
            if head != registry.value:
                changes.append((registry, head))
            name_rest = tail
        else:
            name_rest = current.written_name[len(registry.value) + 1 :]

    if "image" in parts:
        part = parts["image"]
        written_name, _, _ = _split_reference(part.text)
        target_name = written_name if new_name == current.written_name else name_rest
        value = part.wrap(_join_reference(target_name, new_tag, new_digest))
        if value != part.value:
            changes.append((part, value))
    else:
        if new_name != current.written_name:
            if "name" not in parts:
                raise _Refused(
                    f"the image name {current.written_name} is not written here as a value "
                    "that can change (a kustomize entry needs newName)"
                )
            if name_rest != parts["name"].value:
                changes.append((parts["name"], name_rest))
        if tag_part is not None and pinned_tag:
            both = f"{new_tag or ''}@{new_digest}" if new_digest is not None else new_tag
            if both is not None and both != tag_part.value:
                changes.append((tag_part, both))
        elif new_tag is not None and new_tag != current.tag:
            if "tag" not in parts:
                raise _Refused(
                    f"{site.reference_text} has no tag value to change (add one, e.g. newTag)"
                )
            changes.append((parts["tag"], new_tag))
        if new_digest is not None and new_digest != current.digest and "digest" in parts:
            changes.append((parts["digest"], new_digest))
    try:
        result = current.with_tag(new_tag, new_digest)
        if new_name != current.written_name:
            result = ImageReference.parse(_join_reference(new_name, new_tag, new_digest))
    except ImagebotError as exc:
        raise _Refused(str(exc)) from None
    return changes, notes, result


def _plan_setter(edit: Edit, new_tag: str | None, new_digest: str | None) -> list[tuple[Part, str]]:
    """A Flux marker's values, set as Flux's setters set them: each marked value (the site's
    parts are only those) becomes its piece of the policy's reference, whatever it held."""
    site = edit.site
    changes: list[tuple[Part, str]] = []
    for part in site.parts:
        value: str | None = None
        if part.role == "image":
            written, tag, digest = _split_reference(part.text)
            name = edit.new_name if edit.new_name is not None else written
            if new_digest is not None:
                digest = new_digest
            elif digest is not None and (new_tag != tag or name != written):
                raise _Refused(
                    f"{site.reference_text} is pinned by digest: the new tag's digest is needed "
                    "to change it"
                )
            value = part.wrap(_join_reference(name, new_tag, digest))
        elif part.role == "name" and edit.new_name is not None:
            value = edit.new_name
        elif part.role == "tag" and edit.new_tag is not None:
            value = edit.new_tag
        elif part.role == "digest" and new_digest is not None:
            value = new_digest
        if value is not None and value != part.value:
            changes.append((part, value))
    return changes


# --- how the new value is written --------------------------------------------------------------


def render_scalar(text: str, node: ScalarNode, new_value: str) -> tuple[str, str | None]:
    """(raw text for *new_value* in the node's style, note). Raises ``_Refused``."""
    start, end = ys.scalar_extent(text, node)
    raw = text[start:end]
    style = ys.style_of(node)
    if style in ("|", ">"):
        raise _Refused("the value is a block scalar; imagebot does not rewrite those")
    if style == '"':
        if raw[1:-1] != node.value or any(c in new_value for c in '"\\'):
            raise _Refused("the value is a double-quoted scalar with escapes or line breaks")
        return f'"{new_value}"', None
    if style == "'":
        if raw[1:-1].replace("''", "'") != node.value:
            raise _Refused("the value is a single-quoted scalar spanning lines")
        return "'" + new_value.replace("'", "''") + "'", None
    if raw != node.value:
        raise _Refused("the value is a plain scalar spanning lines")
    if not ys.plain_reads_as_string(new_value) and (
        ys.plain_reads_as_string(node.value) or ys.plain_type(new_value) != node.tag
    ):
        # An unquoted old value that YAML already read as a number is the user's style and
        # stays unquoted when the new one reads the same way; anything else gets quotes.
        return f'"{new_value}"', f"quoted {new_value} to keep it a string"
    return new_value, None


# --- the rewrite -----------------------------------------------------------------------------


def rewrite(content: bytes, edits: Sequence[Edit]) -> RewriteResult:
    """Apply *edits* to one file's bytes. Pure: returns the new bytes, notes and refusals.

    Each edit is all-or-nothing; edits that cannot be made are listed in ``errors`` and the
    rest still apply. If the result does not read back as intended, no edit is applied.

    When every site was discovered in exactly these bytes (``site.blob``), the splices go at
    the offsets discovery recorded and the file is parsed once, after splicing (see
    :func:`_verify_at_offsets`); otherwise the old bytes are parsed too, every value is found
    again by its path and the result is compared with them node by node.

    Either way, a value read at more than one path (an anchor with aliases, a merge key)
    changes only if every site reading it is part of the change with the same new value
    (:mod:`sharing`); otherwise nothing in the file changes. The check runs on the file as
    it reads back, and on the full read before splicing too.
    """
    result = RewriteResult(content)
    if not edits:
        return result
    blobs = {e.site.blob for e in edits}
    if (
        len(blobs) == 1
        and all(p.tag for e in edits for p in e.site.parts)
        and blobs == {ys.blob_id(content)}
    ):
        fast = _rewrite_at_offsets(content, edits, RewriteResult(content))
        if fast is not None:
            return fast
    try:
        source = ys.load(content)
    except ys.YamlSyntaxError as exc:
        where = f"line {exc.line}: " if exc.line else ""
        result.errors.extend(
            f"{_where(e.site)}: file is not readable YAML: {where}{exc.message}" for e in edits
        )
        return result
    planned: dict[int, _Splice] = {}
    changes: list[sharing.Change] = []
    shared: list[str] = []
    for edit in edits:
        try:
            splices, notes, changed = _prepare(source, edit, planned)
        except _Shared as exc:
            shared.append(f"{_where(edit.site)}: {exc}")
            continue
        except _Refused as exc:
            result.errors.append(f"{_where(edit.site)}: {exc}")
            continue
        for splice in splices:
            planned[id(splice.node)] = splice
        changes.extend(changed)
        result.notes.extend(notes)
        result.applied.append(edit)
    shared.extend(sharing.problems(source, changes, _file_sites(source, edits)))
    if shared:
        return _refuse_file(result, shared)
    if not planned:
        return result
    new_content = _splice(source, list(planned.values()))
    problem = _verify(source, new_content, planned, changes, edits)
    if problem is not None:
        result.errors.extend(
            f"{_where(e.site)}: refused: the rewritten file would not read back as intended "
            f"({problem})"
            for e in result.applied
        )
        result.applied = []
        result.notes = []
        return result
    result.content = new_content
    return result


@dataclass(frozen=True)
class _At:
    """A mark for a scalar known by its offsets only (what :func:`render_scalar` reads)."""

    index: int
    line: int


def _rewrite_at_offsets(
    content: bytes, edits: Sequence[Edit], result: RewriteResult
) -> RewriteResult | None:
    """The splice for sites read from these very bytes: no parse before, one after.

    None when two edits set one value to different values: the caller's full read of the
    file then names the anchor or merge key that shares it."""
    text = content.decode("utf-8")
    ascii_only = len(text) == len(content)

    def char(offset: int) -> int:
        return offset if ascii_only else len(content[:offset].decode("utf-8"))

    planned: dict[tuple[int, int], tuple[Part, _Splice]] = {}
    changed: list[sharing.Change] = []
    for edit in edits:
        try:
            changes, notes, _ = plan_values(edit)
            splices: list[tuple[Part, _Splice]] = []
            for part, new_value in changes:
                earlier = planned.get((part.start, part.end))
                if earlier is not None:
                    if earlier[1].new_value != new_value:
                        return None
                    continue
                start, end = char(part.start), char(part.end)
                node = ScalarNode(
                    part.tag,
                    part.value,
                    start_mark=_At(start, part.line - 1),
                    end_mark=_At(end, part.line - 1),
                    style=part.style or None,
                )
                raw, note = render_scalar(text, node, new_value)
                if note:
                    notes.append(f"{edit.site.file}:{part.line}: {note}")
                splices.append((part, _Splice(node, start, end, new_value, raw, edit)))
        except _Refused as exc:
            result.errors.append(f"{_where(edit.site)}: {exc}")
            continue
        for part, splice in splices:
            planned[(part.start, part.end)] = (part, splice)
        changed.extend(sharing.Change(edit, part, value) for part, value in changes)
        result.notes.extend(notes)
        result.applied.append(edit)
    if not planned:
        return result
    out, pos, shift = [], 0, 0
    moved: list[tuple[Part, _Splice, int, int]] = []
    for (start, end), (part, splice) in sorted(planned.items()):
        new_raw = splice.new_raw.encode("utf-8")
        out += [content[pos:start], new_raw]
        pos = end
        moved.append((part, splice, start + shift, start + shift + len(new_raw)))
        shift += len(new_raw) - (end - start)
    out.append(content[pos:])
    new_content = b"".join(out)
    if _proven_without_reading(content, text, moved, edits):
        result.content = new_content
        return result
    try:
        new_source = ys.load(new_content)
    except ys.YamlSyntaxError as exc:
        problem: str | None = f"line {exc.line}: {exc.message}"
    else:
        problem = _verify_at_offsets(new_source, moved)
        if problem is None:
            # Sharing and duplicate keys read the same before and after a splice of single
            # scalars, so the one parse there is serves for both checks.
            shared = sharing.problems(new_source, changed, _file_sites(new_source, edits))
            if shared:
                return _refuse_file(result, shared)
            problem = _duplicates(new_source, result.applied)
    if problem is not None:
        result.errors.extend(
            f"{_where(e.site)}: refused: the rewritten file would not read back as intended "
            f"({problem})"
            for e in result.applied
        )
        result.applied = []
        result.notes = []
        return result
    result.content = new_content
    return result


#: A plain scalar that reads as itself wherever a plain scalar may stand, and ends where
#: its text ends whatever follows it: no white space, no indicator (``#``, ``,``, brackets,
#: quotes, ``&``, ``*``, ``!``, ``|``, ``>``, ``%``) and a ``:`` only before another safe
#: character. Image references (``repo:tag@sha256:...``) and tags are of this form.
_SELF_DELIMITING_PLAIN = re.compile(r"[A-Za-z0-9_/](?:[A-Za-z0-9_./@+-]|:(?=[A-Za-z0-9_./@+-]))*")
_LINE_BREAKS = frozenset("\r\n\x85\u2028\u2029")
_BLANK_OR_COMMENT = re.compile(r"[ \t]*(?:#[^\r\n]*)?(?:\r?\n|\r|$)")


def _proven_without_reading(
    content: bytes, text: str, moved: list[tuple[Part, _Splice, int, int]], edits: Sequence[Edit]
) -> bool:
    """True when the splices are shown to change only their values without reading the file.

    The re-read after a splice proves two things: every other token reads as before, and
    each new scalar reads back as one token of the intended value and type at its path. The
    first follows from the bytes alone when the conditions below hold; the second does too,
    for scalars of the forms checked here. Anything else (a value shared through an anchor,
    a site with an error, a directive, a scalar spanning lines, a style change with more on
    the line, a value with characters that could meet what follows) takes the re-read.

    Why: a YAML scanner reads the bytes before a splice into the same tokens and state as
    before. The old value was one single-line scalar token from ``start`` to ``end``
    (discovery read these very bytes, ``site.blob``). The new text is one single-line scalar
    token too, and its end does not depend on what follows it: a quoted scalar ends at its
    closing quote; a plain one of :data:`_SELF_DELIMITING_PLAIN`'s form ends at the first
    character that is not part of it, and what follows the splice is what ended the old
    token (white space, a line break, a flow indicator, the end). After the token the
    scanner is in the state the old one left it in: the same style leaves the same state
    before the same bytes; a plain value that became quoted leaves a different simple-key
    flag, which the rest of the line (only blanks and a comment) does not read and the line
    break resets. So every other token, hence every node, anchor, alias, key and the
    document structure, reads as before, and the new token's value is its text (unquoted).
    Its type is the resolver's for that text (plain) or a string (quoted); the tag a node
    had (``part.tag``) is all an explicit tag could give it, so the check is the re-read's.
    Duplicate keys on the path make a site an error at discovery (no edit comes here from
    one), and without both ``&`` and ``*`` in the file nothing is read at two paths
    (:mod:`sharing`).
    """
    if b"&" in content and b"*" in content:
        return False
    if content.removeprefix(b"\xef\xbb\xbf").startswith(b"%") or b"\n%" in content:
        return False  # a directive: the re-read decides
    if any(edit.site.error is not None for edit in edits):
        return False
    for part, splice, _, _ in moved:
        old_raw = text[splice.start : splice.end]
        new_raw = splice.new_raw
        if any(c in _LINE_BREAKS for c in old_raw) or any(c in _LINE_BREAKS for c in new_raw):
            return False
        old_style, new_style = _raw_style(old_raw), _raw_style(new_raw)
        if old_style is None or new_style is None:
            return False
        if new_style != old_style and not _BLANK_OR_COMMENT.match(text, splice.end):
            return False
        if new_style == "":
            if _SELF_DELIMITING_PLAIN.fullmatch(new_raw) is None or new_raw != splice.new_value:
                return False
            tag = ys.plain_type(new_raw)
            if tag != ys.STR_TAG and tag != part.tag:
                return False
        elif _unquoted(new_raw, new_style) != splice.new_value:
            return False
    return True


def _raw_style(raw: str) -> str | None:
    """The style of a single-line scalar as written: "" plain, a quote, or None (other)."""
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[0]
    if raw and raw[0] not in "'\"|>":
        return ""
    return None


def _unquoted(raw: str, style: str) -> str | None:
    """The value of a one-line quoted scalar with printable text, or None (take the re-read)."""
    inner = raw[1:-1]
    if not inner.isprintable():
        return None
    if style == '"':
        return None if '"' in inner or "\\" in inner else inner
    if "'" in inner.replace("''", ""):
        return None
    return inner.replace("''", "'")


def _duplicates(source: ys.Source, edits: Sequence[Edit]) -> str | None:
    for edit in edits:
        for part in edit.site.parts:
            dups = graph.duplicate_keys(source.docs[part.doc], part.path)
            if dups:
                return f"{graph.describe_duplicates(dups)} on the path to an image"
    return None


def _verify_at_offsets(
    source: ys.Source, moved: list[tuple[Part, _Splice, int, int]]
) -> str | None:
    """None when each changed value reads back, at its path, as exactly the new scalar.

    The bytes outside the splices are the old ones, and each splice replaced exactly one
    scalar token (discovery's extent) by text that the re-read finds to be exactly one scalar
    token again, at the same path, of the intended value and type. A scanner reads the same
    bytes before a splice into the same tokens and state; a scalar token leaves the state as
    any other single-line scalar does; so every other node reads as it did."""
    for part, splice, start, end in moved:
        doc = source.docs[part.doc] if part.doc < len(source.docs) else None
        node = ys.get_path(doc, part.path) if doc is not None else None
        if not isinstance(node, ScalarNode):
            return f"line {part.line}: the structure changed"
        span = ys.scalar_extent(source.text, node)
        if (source.byte_offset(span[0]), source.byte_offset(span[1])) != (start, end):
            return f"line {part.line}: the value's extent changed"
        if node.value != splice.new_value:
            return f"line {part.line}: reads {node.value!r}, not {splice.new_value!r}"
        if node.tag != ys.STR_TAG and node.tag != part.tag:
            return f"line {part.line}: {node.value!r} no longer reads as a string"
    return None


def _file_sites(source: ys.Source, edits: Sequence[Edit]) -> Callable[[], list[ImageSite]]:
    """Every site of the file, read at most once and only when some changed value is shared."""
    found: list[list[ImageSite]] = []
    file = edits[0].site.file
    chart_values = any(e.site.kind == "HelmValues" for e in edits)

    def sites() -> list[ImageSite]:
        if not found:
            found.append(
                sites_in(
                    source,
                    file,
                    chart_values=chart_values,
                    default_namespace=edits[0].site.default_namespace,
                )
            )
        return found[0]

    return sites


def _refuse_file(result: RewriteResult, problems: list[str]) -> RewriteResult:
    """A shared value may not change: no edit of this file applies, each one says why."""
    named = list(problems)
    for edit in result.applied:
        prefix = _where(edit.site) + ":"
        if not any(p.startswith(prefix) for p in named):
            named.append(
                f"{prefix} not applied: a value in this file is shared with a workload this "
                "change is not for (see the other messages for this file)"
            )
    result.errors.extend(named)
    result.applied = []
    result.notes = []
    return result


def _prepare(
    source: ys.Source, edit: Edit, planned: dict[int, _Splice]
) -> tuple[list[_Splice], list[str], list[sharing.Change]]:
    changes, notes, _ = plan_values(edit)
    nodes: dict[int, ScalarNode] = {}
    for part in edit.site.parts:  # every value the site was read from must still be there
        doc = source.docs[part.doc] if part.doc < len(source.docs) else None
        node = ys.get_path(doc, part.path) if doc is not None else None
        if not isinstance(node, ScalarNode) or node.value != part.value:
            raise _Refused(
                f"the file changed since it was read: {part.value!r} is no longer at line "
                f"{part.line}"
            )
        assert doc is not None
        dups = graph.duplicate_keys(doc, part.path)
        if dups:
            raise _Refused(f"{graph.describe_duplicates(dups)} on the path to this image")
        nodes[id(part)] = node
    splices: list[_Splice] = []
    for part, new_value in changes:
        node = nodes[id(part)]
        earlier = planned.get(id(node))
        if earlier is not None:
            if earlier.new_value != new_value:
                raise _Shared(
                    f"{part.value!r} at line {part.line} is shared through "
                    f"{graph.sharing(source.docs[part.doc], part.path)} with "
                    f"{earlier.edit.site.workload} container {earlier.edit.site.container}, "
                    f"which this change sets to {earlier.new_value!r}, not {new_value!r}; "
                    "nothing in this file changes"
                )
            continue
        start, end = ys.scalar_extent(source.text, node)
        raw, note = render_scalar(source.text, node, new_value)
        if note:
            notes.append(f"{edit.site.file}:{part.line}: {note}")
        splices.append(_Splice(node, start, end, new_value, raw, edit))
    return splices, notes, [sharing.Change(edit, part, value) for part, value in changes]


def _splice(source: ys.Source, splices: list[_Splice]) -> bytes:
    out = []
    pos = 0
    data = source.data
    for splice in sorted(splices, key=lambda s: s.start):
        start, end = source.byte_offset(splice.start), source.byte_offset(splice.end)
        out.append(data[pos:start])
        out.append(splice.new_raw.encode("utf-8"))
        pos = end
    out.append(data[pos:])
    return b"".join(out)


def _verify(
    source: ys.Source,
    new_content: bytes,
    planned: dict[int, _Splice],
    changes: list[sharing.Change],
    edits: Sequence[Edit],
) -> str | None:
    """None when *new_content* reads exactly as the old file with the planned values, and
    no value that changed is read by a workload the change is not for."""
    try:
        new_source = ys.load(new_content)
    except ys.YamlSyntaxError as exc:
        return f"line {exc.line}: {exc.message}"
    problem = _compare(source, new_source.docs, planned)
    if problem is None:
        shared = sharing.problems(new_source, changes, _file_sites(new_source, edits))
        problem = "; ".join(shared) if shared else None
    return problem


def _compare(source: ys.Source, new_docs: list[Node], planned: dict[int, _Splice]) -> str | None:
    if len(new_docs) != len(source.docs):
        return "the number of documents changed"
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Node, Node]] = list(zip(source.docs, new_docs, strict=True))
    found = 0
    while stack:
        old, new = stack.pop()
        if (id(old), id(new)) in seen:
            continue
        seen.add((id(old), id(new)))
        if not ys.same_kind(old, new) or (old.tag != new.tag and not isinstance(old, ScalarNode)):
            return f"line {old.start_mark.line + 1}: the structure changed"
        if isinstance(old, ScalarNode):
            splice = planned.get(id(old))
            if splice is None:
                if (old.value, old.tag) != (new.value, new.tag):
                    return f"line {old.start_mark.line + 1}: {old.value!r} became {new.value!r}"
                continue
            found += 1
            if new.value != splice.new_value:
                return (
                    f"line {old.start_mark.line + 1}: reads {new.value!r}, not {splice.new_value!r}"
                )
            if new.tag != ys.STR_TAG and new.tag != old.tag:
                return f"line {old.start_mark.line + 1}: {new.value!r} no longer reads as a string"
        elif isinstance(old, MappingNode):
            if len(old.value) != len(new.value):
                return f"line {old.start_mark.line + 1}: the mapping changed"
            for (ok, ov), (nk, nv) in zip(old.value, new.value, strict=True):
                stack.append((ok, nk))
                stack.append((ov, nv))
        elif isinstance(old, SequenceNode):
            if len(old.value) != len(new.value):
                return f"line {old.start_mark.line + 1}: the sequence changed"
            stack.extend(zip(old.value, new.value, strict=True))
    if found != len(planned):
        return "a changed value was not found again"
    return None


# --- writing files -----------------------------------------------------------------------------


def apply(root: Path, edits: Sequence[Edit]) -> list[FileChange]:
    """Rewrite every file the edits concern; write only those that changed, atomically.

    Returns one :class:`FileChange` per file concerned, in the order first named; a file whose
    edits were all refused (``errors``) is left untouched.
    """
    root = Path(root).resolve()
    by_file: dict[str, list[Edit]] = {}
    for edit in edits:
        by_file.setdefault(edit.site.file, []).append(edit)
    inside: dict[Path, bool] = {}  # folder -> inside root, resolved once per folder
    changes = []
    for file, group in by_file.items():
        path = root / file
        try:
            folder = path.parent
            if folder not in inside:
                inside[folder] = folder.resolve().is_relative_to(root)
            if not inside[folder] or stat.S_ISLNK(os.lstat(path).st_mode):
                raise ValueError("not inside the repository")
            old = _read_no_follow(path)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not inside the repository"
            changes.append(FileChange(file, b"", b"", errors=[f"{file}: cannot rewrite: {reason}"]))
            continue
        result = rewrite(old, group)
        change = FileChange(file, old, result.content, list(result.notes), list(result.errors))
        if change.changed:
            try:
                _write_atomically(path, result.content)
                log.info("rewrote %s", file, extra={"file": file, "edits": len(result.applied)})
            except OSError as exc:
                change.errors.append(f"{file}: cannot write: {exc.strerror}")
                change.new = old
        changes.append(change)
    return changes


def _read_no_follow(path: Path) -> bytes:
    """The file's bytes; ELOOP if it became a symlink since it was looked at."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _write_atomically(path: Path, content: bytes) -> None:
    """Readers see the old file or the new one, never half; a crash leaves one of the two.

    The new bytes go to a temporary file beside *path* (created exclusively, with the old
    file's mode), reach the disk (fsync), then replace *path* by a rename."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.imagebot")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            if stat.S_IMODE(os.fstat(fd).st_mode) != mode:  # the umask narrowed it
                os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
