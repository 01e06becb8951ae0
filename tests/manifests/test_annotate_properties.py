"""Property: on generated manifests in every style, an annotation edit changes only the
annotation lines of the one workload, reads back as intended, and undoing an addition
restores the bytes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagebot.manifests.annotate import AnnotationEdit, annotate, find_workloads, plain_ok

KEYS = ["a.example/x", "fluxcd.io/automated", "imagebot.io/tag.app", "b"]
VALUES = ["true", "false", "1.20", "semver:~1.2", "glob:*", "x: y", "it's", "é ü", 'q"t', "#h"]


def scalar(draw, value: str) -> str:
    styles = ["single", "double"] + (["plain"] if plain_ok(value) else [])
    style = draw(st.sampled_from(styles))
    if style == "plain":
        return value
    if style == "single":
        return "'" + value.replace("'", "''") + "'"
    return '"' + value.replace('"', '\\"') + '"'


@st.composite
def manifests(draw):
    """(prefix, metadata block, suffix, annotations as written, layout)."""
    ind = " " * draw(st.integers(1, 4))
    eol = draw(st.sampled_from(["\n", "\r\n"]))

    def tail() -> str:
        if not draw(st.booleans()):
            return ""
        return " " * draw(st.integers(1, 3)) + draw(st.sampled_from(["# c", "# é ☕", "#"]))

    prefix_lines = []
    if draw(st.booleans()):
        prefix_lines.append("---" + tail())
    if draw(st.booleans()):
        prefix_lines += ["kind: ConfigMap", "metadata:", f"{ind}name: other" + tail(), "---"]
    prefix_lines += ["# the workload", "apiVersion: apps/v1", "kind: Deployment"]
    meta = ["metadata:" + tail(), f"{ind}name: web" + tail()]
    if draw(st.booleans()):
        meta.append(f"{ind}namespace: demo" + tail())
    labels = draw(st.sampled_from(["none", "block", "flow"]))
    if labels == "block":
        meta += [f"{ind}labels:" + tail(), f"{ind * 2}app: web" + tail()]
    elif labels == "flow":
        meta.append(f"{ind}labels: {{app: web}}" + tail())
    layout = draw(st.sampled_from(["none", "block", "flow", "empty-flow", "null"]))
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=3))
    written = {key: draw(st.sampled_from(VALUES)) for key in keys}
    if layout == "block" and not written:
        layout = "none"
    if layout == "flow" and not written:
        layout = "empty-flow"
    if layout == "block":
        meta.append(f"{ind}annotations:" + tail())
        for key, value in written.items():
            if draw(st.booleans()):
                meta.append(f"{ind * 2}# inner")
            meta.append(f"{ind * 2}{key}: {scalar(draw, value)}" + tail())
    elif layout == "flow":
        entries = ", ".join(
            f"{k}: " + ('"' + v.replace('"', '\\"') + '"') for k, v in written.items()
        )
        meta.append(f"{ind}annotations: {{{entries}}}" + tail())
    elif layout == "empty-flow":
        written = {}
        meta.append(f"{ind}annotations: {{}}" + tail())
    elif layout == "null":
        written = {}
        meta.append(f"{ind}annotations:" + tail())
    else:
        written = {}
    suffix_lines = [
        "spec:",
        f"{ind}template:",
        f"{ind * 2}spec:",
        f"{ind * 3}containers:",
        f"{ind * 3}- name: app",
        f"{ind * 3}  image: nginx:1.25" + tail(),
    ]
    if draw(st.booleans()):
        suffix_lines += ["---", "kind: Service", "metadata:", f"{ind}name: web"]
    final = eol if draw(st.booleans()) else ""
    prefix = eol.join(prefix_lines) + eol
    block = eol.join(meta) + eol
    suffix = eol.join(suffix_lines) + final
    if draw(st.booleans()):
        prefix = "\ufeff" + prefix
    return prefix, block, suffix, written, layout


edits_strategy = st.dictionaries(
    st.sampled_from(KEYS), st.one_of(st.none(), st.sampled_from(VALUES)), max_size=4
)


def is_annotation_line(line: str) -> bool:
    text = line.strip()
    return (
        text.startswith("annotations:")
        or text == "# inner"
        or any(text.startswith((f"{k}:", f'"{k}":')) for k in KEYS)
    )


def target_of(content: bytes):
    return next(w for w in find_workloads(content) if w.kind == "Deployment")


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests(), edits_strategy)
def test_an_edit_changes_only_the_annotation_lines_and_reads_back(doc, wanted):
    prefix, block, suffix, written, layout = doc
    original = (prefix + block + suffix).encode("utf-8")
    target = target_of(original)
    assert {k: a.value for k, a in target.annotations.items()} == written

    edits = [AnnotationEdit(k, v) for k, v in wanted.items()]
    result = annotate(original, target, edits)
    new = result.content.decode("utf-8")

    expected = {k: wanted.get(k, v) for k, v in written.items() if wanted.get(k, v) is not None}
    expected.update({k: v for k, v in wanted.items() if k not in written and v is not None})
    got = target_of(result.content).annotations
    assert [(k, a.value) for k, a in got.items()] == list(expected.items())
    assert all(a.is_string for a in got.values())

    # Every byte outside the workload's metadata is untouched...
    assert new.startswith(prefix)
    assert new.endswith(suffix)
    new_block = new[len(prefix) : len(new) - len(suffix)]
    # ...and inside it, every line but the annotation lines.
    old_lines = block.splitlines(keepends=True)
    new_lines = new_block.splitlines(keepends=True)
    assert [x for x in new_lines if not is_annotation_line(x)] == [
        x for x in old_lines if not is_annotation_line(x)
    ]
    if expected or layout == "empty-flow":
        # Inner comments stay unless the whole annotations mapping went away.
        assert sum(x.strip() == "# inner" for x in new_lines) == sum(
            x.strip() == "# inner" for x in old_lines
        )
    if not expected and layout in ("block", "flow") and result.changed:
        assert not any(x.strip().startswith("annotations:") for x in new_lines)
    if not result.changed:
        assert result.content == original


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests(), st.lists(st.sampled_from(KEYS), unique=True, min_size=1, max_size=3), st.data())
def test_adding_annotations_then_removing_them_restores_the_bytes(doc, keys, data):
    prefix, block, suffix, written, layout = doc
    new_keys = [k for k in keys if k not in written]
    if not new_keys or layout in ("empty-flow", "null"):
        return  # an emptied mapping is removed, so these two cannot come back byte for byte
    original = (prefix + block + suffix).encode("utf-8")
    values = {k: data.draw(st.sampled_from(VALUES), label=k) for k in new_keys}
    added = annotate(
        original, target_of(original), [AnnotationEdit(k, v) for k, v in values.items()]
    )
    assert [c.key for c in added.changes] == new_keys
    removed = annotate(
        added.content, target_of(added.content), [AnnotationEdit(k, None) for k in new_keys]
    )
    assert removed.content == original
