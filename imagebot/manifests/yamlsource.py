"""Reading YAML so that every scalar can be found again by byte offset.

Documents are *composed* (ruamel's node graph), never constructed: a node keeps the scalar's
text exactly as written (``1.30`` is the string ``"1.30"``, not the float 1.3), its quoting
style, and character marks into the decoded text. The text is decoded from UTF-8 without
dropping a BOM, so character indices map one-to-one onto the original bytes: rewriting splices
into those bytes and never re-serialises a document.

Two composers build the same ruamel nodes. The fast one is libyaml (``ruamel.yaml.clib``'s
``CParser``) with a resolver that memoises YAML 1.2 plain-scalar types: about 4x cheaper than
ruamel's own C path and 15-20x cheaper than the pure-Python parser. Its marks are character
indices too. It is used only where it reads a file exactly as the pure parser does: no BOM
(libyaml drops it, shifting every mark), no ``%YAML`` directive (the pure resolver follows the
version it names), nesting it can compose without exhausting the C stack (:func:`_nesting_bound`);
anything it rejects is read again by the pure parser, so errors and their lines are the pure
parser's. Anchors are not recorded on its nodes, so they are read back from the text
(:func:`_restore_anchors`); aliases are the same node object in both.
"""

from __future__ import annotations

import bisect
import functools
import gc
import hashlib
import operator
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from imagebot.manifests import graph

try:  # ruamel.yaml.clib: libyaml composing ruamel's node classes
    from _ruamel_yaml import CParser as _CParser  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - the dependency is declared; pure reading still works
    _CParser = None

STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"

PathKey = str | int
Path = tuple[PathKey, ...]

_TRAILING_TABS = re.compile(r"\t[ \t]*(?=\r?\n|\r|\Z)")


class YamlSyntaxError(Exception):
    """The bytes are not YAML that can be read (the message says where and why)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class Source:
    """A decoded file and its composed documents."""

    data: bytes
    text: str
    docs: list[Node]
    #: Runs of multi-byte characters: where each starts and ends, and the bytes beyond one
    #: per character that the text holds up to its end.
    _runs: tuple[list[int], list[int], list[int]] | None = field(default=None, repr=False)

    def byte_offset(self, index: int) -> int:
        """Byte offset in ``data`` of character *index* in ``text``."""
        if len(self.data) == len(self.text):  # ASCII (or no multi-byte characters)
            return index
        if self._runs is None:
            starts, ends, extra = [], [], []
            total = 0
            for run in _MULTI_BYTE.finditer(self.text):
                total += len(run.group().encode("utf-8")) - len(run.group())
                starts.append(run.start())
                ends.append(run.end())
                extra.append(total)
            self._runs = (starts, ends, extra)
        starts, ends, extra = self._runs
        k = bisect.bisect_left(starts, index)  # the runs that start before the character
        if k == 0:
            return index
        if index >= ends[k - 1]:
            return index + extra[k - 1]
        start = starts[k - 1]  # inside a run: its characters before this one
        inside = len(self.text[start:index].encode("utf-8")) - (index - start)
        return index + (extra[k - 2] if k > 1 else 0) + inside


_MULTI_BYTE = re.compile(r"[^\x00-\x7f]+")


def blob_id(data: bytes) -> str:
    """Git's object id for *data* as a blob (what ``git ls-files -s`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def decode(data: bytes) -> str:
    """UTF-8 text with any BOM kept as a character (so indices stay aligned with bytes)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlSyntaxError("not UTF-8 text", line) from None


def compose(text: str) -> list[Node]:
    """Compose every document of *text*; raise :class:`YamlSyntaxError` with the line.

    A document whose aliases or merge keys expand past :mod:`graph`'s bound (an alias bomb,
    or an alias inside its own anchor) is refused here, before anything walks it."""
    docs, may_share = _compose_relaxed(text)
    if not may_share:
        return docs  # no alias (or no anchor for one): nothing shared, nothing can expand
    for doc in docs:
        try:
            graph.check_expansion(doc)
        except graph.ExpansionError as exc:
            raise YamlSyntaxError(exc.message, exc.line) from None
    return docs


def _compose_relaxed(text: str) -> tuple[list[Node], bool]:
    try:
        return _compose(text)
    except YamlSyntaxError as first:
        # ruamel rejects tabs that YAML allows as trailing white space (go-yaml and kubectl
        # accept them). Blanking them keeps every character index, so retry that way.
        if "\t" not in text:
            raise
        relaxed = _TRAILING_TABS.sub(lambda m: " " * len(m.group(0)), text)
        if relaxed == text:
            raise
        try:
            return _compose(relaxed)
        except YamlSyntaxError:
            raise first from None


#: Deepest nesting read (the pure parser runs out of Python stack a little beyond it).
MAX_DEPTH = 400
#: Beyond this many possible nesting levels libyaml's recursive composer could overflow the
#: C stack (it does at ~30,000), so such files are read by the pure parser.
_C_STACK_BOUND = 20_000
_BOM = "\ufeff"
_DEEP_INDENT = re.compile(r"\n[ \t?-]{150}")  # a literal first: the regex engine skips ahead
_DEEP_INDENT_CR = re.compile(r"\r[ \t?-]{150}")


def _compose(text: str) -> tuple[list[Node], bool]:
    """The documents, and False when none of them can share a node (no alias in them)."""
    if _CParser is not None and not text.startswith(_BOM) and "%YAML" not in text:
        flow, block = _nesting_bound(text)
        if flow + block < _C_STACK_BOUND:
            try:
                docs = _compose_c(text)
            except Exception:
                pass  # read again below, for the pure parser's message
            else:
                if (
                    flow + block > MAX_DEPTH
                    and _flow_depth(text) + block > MAX_DEPTH
                    and _depth(docs) > MAX_DEPTH
                ):
                    raise YamlSyntaxError("nested too deeply")
                if "&" in text and _has_anchor(text):
                    _restore_anchors(text, docs)
                if docs and text and text[-1] not in "\r\n":
                    _end_marks_at_eof(text, docs[-1])
                return docs, "*" in text and _libyaml_anchor(text)
    return _compose_pure(text), "*" in text and "&" in text


#: An anchor as libyaml scans one: ``&`` and a name of ``[0-9A-Za-z_-]``.
_LIBYAML_ANCHOR = re.compile(r"&[0-9A-Za-z_-]")
#: What an ``&`` that starts a token can follow: the start, white space or a line break, an
#: indicator or a closing quote. After anything else (a name character, ``&``, ``=``, ...)
#: the ``&`` is inside a plain scalar, a tag or a name, or a parse error.
_BEFORE_TOKEN = frozenset(" \t\r\n\x85\u2028\u2029\ufeff[]{},:?-\"'")


def _libyaml_anchor(text: str) -> bool:
    """False when libyaml read no anchor in *text* (so no alias either: an alias needs
    one). Shell lines (``&&``, ``&>``) and URLs (``?a=1&b=2``) are not anchors."""
    return any(
        m.start() == 0 or text[m.start() - 1] in _BEFORE_TOKEN
        for m in _LIBYAML_ANCHOR.finditer(text)
    )


def _nesting_bound(text: str) -> tuple[int, int]:
    """Upper bounds of flow and block nesting, from counts that cost one pass each in C.

    Each flow level opens a bracket; each block level starts a line or a compact ``- ``/``? ``
    entry. When no line is indented past 150 columns, block nesting is at most ~300 levels."""
    flow = text.count("[") + text.count("{")
    if (
        _DEEP_INDENT.search(text) is None
        and _DEEP_INDENT.match("\n" + text[:150]) is None
        and ("\r" not in text or _DEEP_INDENT_CR.search(text) is None)
    ):
        return flow, 302
    return flow, text.count("\n") + text.count("\r") + text.count("-") + text.count("?") + 1


_BRACKET = re.compile(r"[\[\]{}]")


def _flow_depth(text: str) -> int:
    """Deepest bracket nesting, counting brackets in strings and comments too (a cheap
    estimate: only whether to measure the composed nodes depends on it)."""
    depth = deepest = 0
    for ch in _BRACKET.findall(text):
        if ch == "[" or ch == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    return deepest


def _depth(docs: list[Node]) -> int:
    deepest = 0
    stack: list[tuple[Node, int]] = [(doc, 1) for doc in docs]
    seen: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        deepest = max(deepest, depth)
        if isinstance(node, MappingNode):
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(node, SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)
    return deepest


class _Scalar(ScalarNode):
    """ScalarNode as libyaml's composer builds it: the tag a plain string (ruamel's nodes
    wrap it in a ``Tag`` object on every construction and every read, half the cost of
    composing)."""

    __slots__ = ("tag",)

    def __init__(
        self,
        tag: str,
        value: str,
        start_mark: object = None,
        end_mark: object = None,
        style: str | None = None,
    ) -> None:
        self.tag = tag if type(tag) is str or tag is None else str(tag)
        self.value = value
        self.start_mark = start_mark
        self.end_mark = end_mark
        self.style = style
        self.comment = None
        self.anchor = None

    @property
    def ctag(self) -> Tag:  # type: ignore[override]
        return Tag(suffix=self.tag)


class _Sequence(SequenceNode):
    __slots__ = ("tag",)

    def __init__(
        self,
        tag: str,
        value: list[Node],
        start_mark: object = None,
        end_mark: object = None,
        flow_style: bool | None = None,
    ) -> None:
        self.tag = tag if type(tag) is str or tag is None else str(tag)
        self.value = value
        self.start_mark = start_mark
        self.end_mark = end_mark
        self.flow_style = flow_style
        self.comment = None
        self.anchor = None

    @property
    def ctag(self) -> Tag:  # type: ignore[override]
        return Tag(suffix=self.tag)


class _Mapping(MappingNode):
    __slots__ = ("tag",)

    def __init__(
        self,
        tag: str,
        value: list[tuple[Node, Node]],
        start_mark: object = None,
        end_mark: object = None,
        flow_style: bool | None = None,
    ) -> None:
        self.tag = tag if type(tag) is str or tag is None else str(tag)
        self.value = value
        self.start_mark = start_mark
        self.end_mark = end_mark
        self.flow_style = flow_style
        self.comment = None
        self.anchor = None
        self.merge = None

    @property
    def ctag(self) -> Tag:  # type: ignore[override]
        return Tag(suffix=self.tag)


_PLAIN_NODES = {"ScalarNode": ScalarNode, "SequenceNode": SequenceNode, "MappingNode": MappingNode}
_FAST_NODES = {"ScalarNode": _Scalar, "SequenceNode": _Sequence, "MappingNode": _Mapping}
#: libyaml's composer builds nodes through its module's global names: they point at the
#: classes above only while imagebot composes (others in the process, e.g. a test's
#: ``YAML(typ="safe")``, get ruamel's own nodes, which ruamel's resolver expects).
_SWAP = threading.Lock()


def same_kind(a: Node, b: Node) -> bool:
    """True when both are scalars, both sequences or both mappings (whichever composer)."""
    for kind in (ScalarNode, MappingNode, SequenceNode):
        if isinstance(a, kind):
            return isinstance(b, kind)
    return type(a) is type(b)


_COLLECTION_TAGS: dict[type, str] = {
    SequenceNode: "tag:yaml.org,2002:seq",
    MappingNode: "tag:yaml.org,2002:map",
    _Sequence: "tag:yaml.org,2002:seq",
    _Mapping: "tag:yaml.org,2002:map",
}


_PLAIN_TYPES: dict[tuple[str, tuple[bool, bool]], str] = {}


class _FastLoader(_CParser if _CParser is not None else object):  # type: ignore[misc]
    """libyaml's composer with a memoised YAML 1.2 resolver (what the pure parser applies).

    The composer calls the path resolvers for every node it builds; there are none to
    descend or ascend, so those two are C functions that accept their arguments and do
    nothing (no Python frame per node). The cache of plain types is a dict of untracked
    tuples: the garbage collector does not walk its entries one by one, as it would an
    ``lru_cache``'s."""

    descend_resolver = staticmethod(operator.is_)  # (parent, index) -> ignored
    ascend_resolver = staticmethod(tuple)  # () -> ignored

    def resolve(self, kind: type, value: object, implicit: tuple[bool, bool]) -> str:
        collection = _COLLECTION_TAGS.get(kind)
        if collection is not None:
            return collection
        try:
            return _PLAIN_TYPES[value, implicit]  # type: ignore[index]
        except KeyError:
            if len(_PLAIN_TYPES) > 100_000:
                _PLAIN_TYPES.clear()
            tag = str(_RESOLVERS[1].resolve(ScalarNode, value, implicit))
            _PLAIN_TYPES[value, implicit] = tag  # type: ignore[index]
            return tag


def _compose_c(text: str) -> list[Node]:
    import _ruamel_yaml

    loader = _FastLoader(text)
    docs = []
    with _SWAP:
        vars(_ruamel_yaml).update(_FAST_NODES)
        try:
            while loader.check_node():
                doc = loader.get_node()
                if doc is not None:
                    docs.append(doc)
        finally:
            vars(_ruamel_yaml).update(_PLAIN_NODES)
            loader.dispose()
    return docs


def _end_marks_at_eof(text: str, doc: Node) -> None:
    """Without a final line break libyaml puts the end of the last nodes on a line of their
    own; the pure parser (and ``imagebot check``'s document ranges) on the last line."""
    line = text.count("\n") if "\r" not in text else _count_breaks(text)
    column = len(text) - 1 - max(text.rfind("\n"), text.rfind("\r"))
    node: Node | None = doc
    while node is not None and node.end_mark.index == len(text):
        mark = node.end_mark
        node.end_mark = type(mark)(mark.name, mark.index, line, column, None, None)
        children = node.value if isinstance(node, MappingNode | SequenceNode) else None
        node = None
        if children:
            last = children[-1]
            node = last[1] if isinstance(last, tuple) else last


def _count_breaks(text: str) -> int:
    return text.count("\r\n") + len(re.findall(r"\r(?!\n)|(?<!\r)\n", text))


_ANCHOR = re.compile(r"&([^\s,\[\]{}]+)")
_AMPERSAND = re.compile(r"&[^\s,\[\]{}&]")


def _has_anchor(text: str) -> bool:
    """An anchor as YAML writes one (``&&`` in a shell line or ``&`` in a URL is not)."""
    return any(
        m.start() == 0 or text[m.start() - 1] in " \t\r\n[{," for m in _AMPERSAND.finditer(text)
    )


def _restore_anchors(text: str, docs: list[Node]) -> None:
    """Set ``node.anchor`` as the pure parser does (libyaml's composer leaves it None).

    A node's start mark is at its first property; anchor and tag may come in either order,
    and after a tag the pure parser starts the node at its anchor: so does this."""
    seen: set[int] = set()
    stack: list[Node] = list(docs)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        start = node.start_mark.index
        if text.startswith("&", start):
            match = _ANCHOR.match(text, start)
            node.anchor = match.group(1) if match else None
        elif text.startswith("!", start):
            at = _after_property(text, start)
            match = _ANCHOR.match(text, at) if text.startswith("&", at) else None
            if match is not None:
                node.anchor = match.group(1)
                mark = node.start_mark
                line = mark.line + text.count("\n", start, at)
                column = at - 1 - text.rfind("\n", 0, at)
                node.start_mark = type(mark)(mark.name, at, line, column, None, None)
        if isinstance(node, MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


def _after_property(text: str, start: int) -> int:
    """Index of what follows the property token at *start* (white space and comments skipped)."""
    end = len(text)
    while start < end and text[start] not in " \t\r\n":
        start += 1
    while start < end:
        ch = text[start]
        if ch in " \t\r\n":
            start += 1
        elif ch == "#":
            while start < end and text[start] not in "\r\n":
                start += 1
        else:
            break
    return start


def _compose_pure(text: str) -> list[Node]:
    yaml = YAML(typ="safe", pure=True)
    try:
        return [doc for doc in yaml.compose_all(text) if doc is not None]
    except RecursionError:
        raise YamlSyntaxError("nested too deeply") from None
    except Exception as exc:  # ruamel raises a variety of errors on malformed input
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0] or type(exc).__name__
        context = getattr(exc, "context", None)
        message = f"{context}: {problem}" if context else str(problem)
        raise YamlSyntaxError(f"not valid YAML: {message}", line) from None


def well_formed(data: bytes) -> bool:
    """True when *data* is YAML that :func:`load` reads without error, checked by libyaml's
    parser alone (no nodes built). False means "not known": :func:`load` tells."""
    if _CParser is None or data.startswith(b"\xef\xbb\xbf") or b"%YAML" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    flow, block = _nesting_bound(text)
    if flow + block > MAX_DEPTH and _flow_depth(text) + block > MAX_DEPTH:
        return False
    loader = _CParser(text)
    try:
        loader.raw_parse()
    except Exception:
        return False
    finally:
        loader.dispose()
    return True


def load(data: bytes) -> Source:
    text = decode(data)
    return Source(data, text, compose(text))


class _CollectorPause:
    """``with collector_paused:`` -- Python's cyclic garbage collector does not run inside.

    Composing a file allocates a node and two marks per scalar. They live until the file's
    sites are drafted, then reference counting frees them (a node graph that outlives its
    file has no cycles). Meanwhile the collector, woken every 700 allocations, walks them
    through its young and older generations and frees nothing: some 15% of discovery's
    CPU time on real repositories. Discovery reads each file inside this pause; between
    files the collector runs as usual, so cyclic garbage (the pure parser's loader, a
    refused recursive alias) is still collected, a file later. Mercurial's ``util.nogc``
    does the same for the same reason.

    The switch is the process's: pauses that nest or overlap (threads) are counted, and the
    last one out enables the collector again if it was enabled when the first came in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._resume:
                gc.enable()


collector_paused = _CollectorPause()


# --- navigating nodes ------------------------------------------------------------------


def is_str(node: Node | None) -> bool:
    return isinstance(node, ScalarNode) and node.tag == STR_TAG


def scalar_text(node: Node | None) -> str | None:
    """The scalar's text as written (``1.30`` stays ``"1.30"``); None for null or non-scalars."""
    if isinstance(node, ScalarNode) and node.tag != "tag:yaml.org,2002:null":
        return node.value
    return None


def _pairs(node: MappingNode) -> Iterator[tuple[Node, Node]]:
    """Key/value pairs, with ``<<`` merges flattened after the mapping's own keys."""
    merges: list[Node] = []
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.tag == MERGE_TAG:
            merges.append(value)
        else:
            yield key, value
    for merged in merges:
        sources = merged.value if isinstance(merged, SequenceNode) else [merged]
        for source in sources:
            if isinstance(source, MappingNode):
                yield from _pairs(source)


def get(node: Node | None, key: str) -> Node | None:
    """Value of *key* in a mapping node (the first one, as most Kubernetes tools read it)."""
    if not isinstance(node, MappingNode):
        return None
    merges = False
    for k, v in node.value:  # own keys first, in order: the common case, without a generator
        if k.value == key and isinstance(k, ScalarNode) and k.tag != MERGE_TAG:
            return v
        merges = merges or k.value == "<<"
    if merges:
        for k, v in _pairs(node):
            if isinstance(k, ScalarNode) and k.value == key:
                return v
    return None


def items(node: Node | None) -> list[tuple[str, Node, Node]]:
    """``(key text, key node, value node)`` for every scalar key of a mapping node."""
    if not isinstance(node, MappingNode):
        return []
    return [(k.value, k, v) for k, v in _pairs(node) if isinstance(k, ScalarNode)]


def seq(node: Node | None) -> list[Node]:
    return list(node.value) if isinstance(node, SequenceNode) else []


def get_path(node: Node | None, path: Path) -> Node | None:
    for key in path:
        if isinstance(key, int):
            if not isinstance(node, SequenceNode) or not 0 <= key < len(node.value):
                return None
            node = node.value[key]
        else:
            node = get(node, key)
        if node is None:
            return None
    return node


def get_str(node: Node | None, key: str) -> str | None:
    return scalar_text(get(node, key))


def walk_scalars(node: Node, path: Path = ()) -> Iterator[tuple[Path, ScalarNode]]:
    """Every scalar *value* (not key) in the tree, with its path; aliases visited once."""
    seen: set[int] = set()
    stack: list[tuple[Path, Node]] = [(path, node)]
    while stack:
        p, n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, ScalarNode):
            yield p, n
        elif isinstance(n, MappingNode):
            for key, value in reversed(n.value):
                if isinstance(key, ScalarNode):
                    stack.append(((*p, key.value), value))
        elif isinstance(n, SequenceNode):
            for i in reversed(range(len(n.value))):
                stack.append(((*p, i), n.value[i]))


# --- where a scalar is written ----------------------------------------------------------


def scalar_extent(text: str, node: ScalarNode) -> tuple[int, int]:
    """Character span of the scalar itself: quotes included, anchor/tag properties excluded."""
    start, end = node.start_mark.index, node.end_mark.index
    while start < end and text[start] in "&!":
        # skip the property token, then white space, line breaks and comments after it
        while start < end and text[start] not in " \t\r\n":
            start += 1
        while start < end:
            ch = text[start]
            if ch in " \t\r\n":
                start += 1
            elif ch == "#":
                while start < end and text[start] not in "\r\n":
                    start += 1
            else:
                break
    return start, end


def style_of(node: ScalarNode) -> str:
    return node.style or ""


# --- how YAML reads a plain scalar ------------------------------------------------------

_RESOLVERS = (VersionedResolver(version=(1, 1)), VersionedResolver(version=(1, 2)))


@functools.lru_cache(maxsize=4096)
def plain_type(value: str) -> str:
    """The YAML 1.2 tag *value* gets when written unquoted (as this module reads files)."""
    return str(_RESOLVERS[1].resolve(ScalarNode, value, (True, False)))


@functools.lru_cache(maxsize=4096)
def plain_reads_as_string(value: str) -> bool:
    """True when ``value`` written unquoted is a string under both YAML 1.1 and 1.2.

    Kubernetes tooling reads YAML 1.1 (``yes``, ``on``, ``0755`` are not strings there), most
    editors and Python tools 1.2; a value must be a string for both.
    """
    return all(r.resolve(ScalarNode, value, (True, False)) == STR_TAG for r in _RESOLVERS)
