"""Reading at C speed changes nothing: libyaml's nodes, the screen and the blob cache read
every file exactly as the pure-Python parser does."""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.manifests import Discovery, discover, discovery, graph
from imagebot.manifests import yamlsource as ys
from imagebot.manifests.discovery import DiscoveryCache, blob_id
from tests.manifests.helpers import CORPUS

#: 843 real-world files from 11 public projects (a sample of ../shared/realworld).
REALWORLD = Path(__file__).resolve().parent.parent / "realworld"  # its SOURCES.md says whence


def _signature(docs: list[Node]) -> list[tuple[object, ...]]:
    """Every node in document order: type, tag, marks, anchor, style, value; aliases by id."""
    out: list[tuple[object, ...]] = []
    seen: dict[int, int] = {}
    stack = list(reversed(docs))
    while stack:
        node = stack.pop()
        if id(node) in seen:
            out.append(("alias", seen[id(node)]))
            continue
        seen[id(node)] = len(seen)
        empty = isinstance(node, ScalarNode) and node.tag.endswith(":null") and node.value == ""
        marks = (
            ()  # an empty value has no text: the parsers place it differently
            if empty
            else (
                node.start_mark.index,
                node.end_mark.index,
                node.start_mark.line,
                node.start_mark.column,
                node.end_mark.line,
                node.end_mark.column,
            )
        )
        style = (node.style or "") if isinstance(node, ScalarNode) else bool(node.flow_style)
        value = node.value if isinstance(node, ScalarNode) else len(node.value)
        out.append((node.id, node.tag, marks, node.anchor, style, value))
        if isinstance(node, MappingNode):
            for key, val in reversed(node.value):
                stack.append(val)
                stack.append(key)
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))
    return out


def _pure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ys, "_CParser", None)


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    def read() -> object:
        try:
            return _signature(ys.compose(text))
        except ys.YamlSyntaxError as exc:
            return ("error", exc.message, exc.line)

    fast = read()
    with monkeypatch.context() as m:
        _pure(m)
        pure = read()
    return fast, pure


SAMPLES = {
    "anchors, aliases and tags in either order": (
        "base: &b {image: 'x:1'}\nuse: *b\nt: !!str &n 1.30\nu: &m !!str 2\nlist: [&i a, *i]\n"
    ),
    "CRLF line breaks": "a: 1\r\nimage: nginx:1.25 # c\r\nb:\r\n  - x\r\n",
    "no final line break": "spec:\n  containers:\n  - image: a:1",
    "multi-byte characters before a value": "note: é€😀\nimage: 'x:1'\n",
    "block scalars and flow mappings": "a: |\n  text\n  more\nb: >-\n  folded\nc: {d: [1, 2]}\n",
    "several documents": "---\na: 1\n...\n---\n- b\n---\n",
    "merge keys": "x: &x {a: 1}\ny:\n  <<: *x\n  b: 2\n",
    "a BOM (read by the pure parser)": "\ufeffimage: a:1\n",
    "a %YAML directive (read by the pure parser)": "%YAML 1.1\n---\nv: yes\n",
    "invalid YAML (the pure parser's message)": "a: [1, 2\nb: 3\n",
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_libyaml_composes_the_nodes_the_pure_parser_composes(name, monkeypatch):
    fast, pure = _both(SAMPLES[name], monkeypatch)
    assert fast == pure


@pytest.mark.slow
def test_libyaml_composes_every_corpus_file_as_the_pure_parser_does(monkeypatch):
    for path in sorted(CORPUS.rglob("*.y*ml")):
        try:
            text = ys.decode(path.read_bytes())
        except ys.YamlSyntaxError:
            continue
        fast, pure = _both(text, monkeypatch)
        assert fast == pure, path


@pytest.mark.slow
def test_discovery_with_libyaml_finds_the_sites_the_pure_parser_finds(monkeypatch):
    fast = discover(CORPUS).to_dict()
    _pure(monkeypatch)
    pure = discover(CORPUS).to_dict()
    assert json.dumps(fast, sort_keys=True) == json.dumps(pure, sort_keys=True)
    assert len(fast["sites"]) > 100


@pytest.mark.parametrize("depth", [500, 50_000])
def test_nesting_deeper_than_the_limit_is_an_error_not_a_crash(depth):
    with pytest.raises(ys.YamlSyntaxError, match="nested too deeply"):
        ys.load(("[" * depth + "]" * depth).encode())


def test_nesting_within_the_limit_is_read():
    depth = ys.MAX_DEPTH - 5
    docs = ys.load(("- " * depth + "x\n").encode()).docs
    assert len(docs) == 1


@given(st.text(alphabet="ab \n\r\u00e9\u00df\u65e5\U0001f600\ufeff", max_size=40))
def test_a_character_index_maps_to_the_byte_offset_of_its_utf8_bytes(text):
    source = ys.Source(text.encode(), text, [])
    for index in range(len(text) + 1):
        assert source.byte_offset(index) == len(text[:index].encode())


_TOKENS = [" ", "\n", "\r\n", "\t", "\x85", "\u2028", "- ", "-", ": ", ":", "? ", "?", ",", "[",
           "]", "{", "}", "'q'", '"q"', "'", '"', "x", "1", "=", "&", "*", "!t ", "!!str ", "#c",
           "--- ", "---\n", "|\n ", "%", "@"]  # fmt: skip


@given(
    st.lists(st.sampled_from(_TOKENS), max_size=8),
    st.sampled_from(["a", "-", "_", "9", "x-1"]),
    st.sampled_from(["", " ", " v", ",", "]", "}", ":"]),
    st.integers(0, 8),
    st.integers(0, 8),
)
def test_where_libyaml_reads_an_alias_the_anchor_screen_sees_an_anchor(tokens, name, after, i, j):
    """compose() walks a document for alias bombs only when the text may hold an anchor."""
    tokens = list(tokens)
    tokens.insert(min(i, len(tokens)), f"&{name}{after}")
    tokens.insert(min(j, len(tokens)), f"*{name}")
    text = "".join(tokens)
    try:
        docs = ys._compose_c(text)
    except Exception:
        return  # the pure parser reads it, and it always walks text with "&" and "*"

    def shared(doc: Node) -> bool:
        try:
            return graph.has_shared_nodes(doc)
        except graph.ExpansionError:
            return True

    if any(shared(doc) for doc in docs):
        assert ys._libyaml_anchor(text)


@pytest.mark.parametrize(
    "text",
    ["a: echo 1 && echo 2 &>/dev/null\nb: '*.yaml'\n", "u: http://x/?a=1&b=*\n"],
)
def test_shell_lines_and_urls_are_not_anchors(text):
    assert not ys._libyaml_anchor(text)


def test_an_alias_bomb_after_a_json_key_is_refused():
    lol = '{"a":&a [x, x, x, x, x, x, x, x, x, x]'
    for n in range(1, 7):
        lol += f', "{n}":&{"a" * (n + 1)} [' + ", ".join([f"*{'a' * n}"] * 10) + "]"
    with pytest.raises(ys.YamlSyntaxError, match="alias bomb"):
        ys.compose(lol + "}\n")


def test_discovery_leaves_the_garbage_collector_as_it_found_it(tmp_path):
    (tmp_path / "app.yaml").write_text("kind: Pod\nspec:\n  containers:\n  - image: a:1\n")
    assert gc.isenabled()
    assert len(discover(tmp_path).sites) == 1
    assert gc.isenabled()
    gc.disable()
    try:
        assert len(discover(tmp_path).sites) == 1
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_pauses_enable_the_collector_when_the_last_one_ends():
    first, second = ys._CollectorPause(), ys.collector_paused
    first.__enter__()
    with second:
        assert not gc.isenabled()
    assert not gc.isenabled()
    with second, second:
        assert not gc.isenabled()
    assert not gc.isenabled()
    first.__exit__(None, None, None)
    assert gc.isenabled()


def _count_composed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    composed: list[str] = []
    real = ys.compose

    def counting(text: str) -> list[Node]:
        composed.append(text)
        return real(text)

    monkeypatch.setattr(ys, "compose", counting)
    return composed


def test_a_file_that_cannot_hold_an_image_is_checked_but_not_composed(tmp_path, monkeypatch):
    (tmp_path / "svc.yaml").write_text("kind: Service\nmetadata:\n  name: web\n")
    (tmp_path / "deploy.yaml").write_text(
        "kind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: a:1\n"
    )
    composed = _count_composed(monkeypatch)
    found = discover(tmp_path)
    assert found.files == ["deploy.yaml", "svc.yaml"]
    assert found.files_read == 2
    assert [s.reference_text for s in found.sites] == ["a:1"]
    assert len(composed) == 1


def test_an_argo_object_that_is_no_application_is_checked_but_not_composed(tmp_path, monkeypatch):
    (tmp_path / "project.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata:\n  name: team\n"
    )
    (tmp_path / "app.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n"
    )
    composed = _count_composed(monkeypatch)
    found = discover(tmp_path)
    assert found.files == ["app.yaml", "project.yaml"]
    assert len(composed) == 1
    assert "kind: Application" in composed[0]


def _everything(found: Discovery) -> str:
    """All a discovery reports: sites, skipped files, errors, files read, automations."""
    return json.dumps(found.to_dict(), sort_keys=True) + repr(
        (found.automations, found.argo_branches)
    )


@pytest.mark.slow
@pytest.mark.parametrize("tree", ["corpus", "realworld"])
def test_the_screen_changes_nothing_discovery_reports(tree, monkeypatch):
    """Composing every file finds what composing only the screened ones finds."""
    root = CORPUS if tree == "corpus" else REALWORLD
    screened = discover(root)
    monkeypatch.setattr(discovery, "may_hold_sites", lambda data: True)
    everything = discover(root)
    assert _everything(screened) == _everything(everything)
    assert len(screened.sites) > 100


def test_a_broken_file_without_images_is_still_reported(tmp_path):
    (tmp_path / "bad.yaml").write_text("kind: Service\nmetadata: [unclosed\n")
    found = discover(tmp_path)
    assert [(e.file, e.message.startswith("not valid YAML")) for e in found.errors] == [
        ("bad.yaml", True)
    ]


def test_sites_carry_the_blob_id_of_the_bytes_they_were_read_from(tmp_path):
    data = b"kind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - image: a:1\n"
    (tmp_path / "pod.yaml").write_bytes(data)
    (site,) = discover(tmp_path).sites
    git = subprocess.run(
        ["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True
    )
    assert site.blob == blob_id(data) == git.stdout.decode().strip()


def test_a_second_discovery_reads_only_the_files_whose_blob_changed(tmp_path, monkeypatch):
    shutil.copytree(CORPUS / "stefanprodan__podinfo", tmp_path / "repo")
    root = tmp_path / "repo"
    blobs = {p.relative_to(root).as_posix(): blob_id(p.read_bytes()) for p in root.rglob("*.y*ml")}
    cache = DiscoveryCache()
    first = discover(root, blobs=blobs, cache=cache)
    assert cache.files_parsed > 10

    changed = "kustomize/deployment.yaml"
    path = root / changed
    path.write_bytes(path.read_bytes().replace(b"podinfo:", b"podinfo-x:", 1))
    blobs[changed] = blob_id(path.read_bytes())
    read: list[str] = []
    real = discovery.Path.read_bytes

    def counting(self):  # type: ignore[no-untyped-def]
        read.append(self.relative_to(root).as_posix())
        return real(self)

    monkeypatch.setattr(discovery.Path, "read_bytes", counting)
    second = discover(root, blobs=blobs, cache=cache)

    assert read == [changed]
    assert cache.files_parsed == 1
    fresh = discover(root)
    assert json.dumps(second.to_dict(), sort_keys=True) == json.dumps(
        fresh.to_dict(), sort_keys=True
    )
    assert second.to_dict() != first.to_dict()


def test_a_file_missing_from_the_blob_map_is_always_read(tmp_path):
    (tmp_path / "pod.yaml").write_text("kind: Pod\nspec:\n  containers:\n  - image: a:1\n")
    cache = DiscoveryCache()
    discover(tmp_path, blobs={}, cache=cache)
    discover(tmp_path, blobs={}, cache=cache)
    assert cache.files_parsed == 1


def _blobs(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): blob_id(p.read_bytes()) for p in root.rglob("*.y*ml")}


def test_a_discovery_that_finds_every_file_as_before_returns_the_last_answer(tmp_path):
    shutil.copytree(CORPUS / "stefanprodan__podinfo", tmp_path / "repo")
    root = tmp_path / "repo"
    cache = DiscoveryCache()
    first = discover(root, blobs=_blobs(root), cache=cache)
    assert not cache.reused

    again = discover(root, blobs=_blobs(root), cache=cache)

    assert cache.reused
    assert again.to_dict() == first.to_dict()
    assert again.sites is not first.sites  # lists of its own: a caller may sort or filter


@pytest.mark.parametrize(
    "change",
    ["edit a file", "add a file", "remove a file", "another default namespace", "no blob ids"],
)
def test_the_last_answer_is_not_reused_when(tmp_path, change):
    shutil.copytree(CORPUS / "stefanprodan__podinfo", tmp_path / "repo")
    root = tmp_path / "repo"
    cache = DiscoveryCache()
    discover(root, blobs=_blobs(root), cache=cache, default_namespace="one")
    namespace, use_blobs = "one", True
    edited = root / "kustomize/deployment.yaml"
    if change == "edit a file":
        edited.write_bytes(edited.read_bytes().replace(b"podinfo:", b"podinfo-x:", 1))
    elif change == "add a file":
        (root / "extra.yaml").write_text("kind: Pod\nspec:\n  containers:\n  - image: a:1\n")
    elif change == "remove a file":
        edited.unlink()
    elif change == "another default namespace":
        namespace = "two"
    else:
        use_blobs = False

    found = discover(
        root, blobs=_blobs(root) if use_blobs else None, cache=cache, default_namespace=namespace
    )

    assert not cache.reused
    assert found.to_dict() == discover(root, default_namespace=namespace).to_dict()


DUPLICATES = """\
base: &base {image: a:1, name: b}
spec:
  containers:
  - <<: *base
    name: c
  - name: d
    image: x:1
    image: x:2
  template: {spec: 1}
  template: {spec: 2}
"""


@pytest.mark.parametrize(
    "path",
    [
        ("spec", "containers", 0, "image"),  # only through the merge key
        ("spec", "containers", 0, "name"),  # its own key overrides the merged one
        ("spec", "containers", 1, "image"),
        ("spec", "template", "spec"),
        ("spec", "containers", 7, "image"),
        ("nowhere",),
    ],
)
def test_duplicate_keys_in_one_pass_read_as_the_step_walk_does(path):
    (doc,) = ys.load(DUPLICATES.encode()).docs
    assert graph.duplicate_keys(doc, path) == graph._duplicate_keys_walked(doc, path)


def test_duplicate_keys_on_every_corpus_site_read_as_the_step_walk_does():
    for path in sorted(CORPUS.rglob("*.y*ml")):
        found = discover(path.parent, include=(path.name,), policy_dirs=())
        docs = ys.load(path.read_bytes()).docs if found.sites else []
        for site in found.sites:
            for part in site.parts:
                doc = docs[part.doc]
                for cut in (part.path, part.path[:-1], (*part.path, "more")):
                    assert graph.duplicate_keys(doc, cut) == graph._duplicate_keys_walked(doc, cut)
