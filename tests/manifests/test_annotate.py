"""Editing a workload's annotations: the exact bytes, every style, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.errors import ManifestError
from imagebot.manifests import scan_bytes
from imagebot.manifests.annotate import (
    AnnotationEdit,
    annotate,
    convention,
    find_workloads,
    keys_for,
    render_value,
    set_policy,
    unset_policy,
)
from tests.manifests.helpers import CORPUS

GET_STARTED = CORPUS / "fluxcd__flux-get-started"


def edit(text: str, *changes: tuple[str, str | None], which: int = 0) -> str:
    data = text.encode("utf-8")
    target = find_workloads(data)[which]
    edits = [AnnotationEdit(key, value) for key, value in changes]
    return annotate(data, target, edits).content.decode("utf-8")


def refused(text: str, *changes: tuple[str, str | None]) -> str:
    with pytest.raises(ManifestError) as info:
        edit(text, *changes)
    return str(info.value)


# --- adding ----------------------------------------------------------------------------------


def test_a_new_annotation_goes_after_the_last_one_at_its_indentation():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    x: y  # note\nspec: {}\n"
    assert edit(before, ("imagebot.io/automated", "true")) == (
        "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    x: y  # note\n"
        '    imagebot.io/automated: "true"\nspec: {}\n'
    )


def test_annotations_are_created_after_labels_indented_like_metadata():
    before = "kind: Deployment\nmetadata:\n  name: a\n  labels:\n    app: a\nspec: {}\n"
    assert edit(before, ("imagebot.io/automated", "true")) == (
        "kind: Deployment\nmetadata:\n  name: a\n  labels:\n    app: a\n  annotations:\n"
        '    imagebot.io/automated: "true"\nspec: {}\n'
    )


def test_crlf_and_a_three_space_indent_are_kept():
    before = "kind: Deployment\r\nmetadata:\r\n   name: a   # c\r\nspec: {}\r\n"
    assert edit(before, ("imagebot.io/automated", "true")) == (
        "kind: Deployment\r\nmetadata:\r\n   name: a   # c\r\n   annotations:\r\n"
        '      imagebot.io/automated: "true"\r\nspec: {}\r\n'
    )


def test_a_one_space_indent_is_kept():
    before = "kind: Deployment\nmetadata:\n name: a\n namespace: b\nspec:\n x: 1\n"
    assert edit(before, ("imagebot.io/locked", "true")) == (
        "kind: Deployment\nmetadata:\n name: a\n namespace: b\n annotations:\n"
        '  imagebot.io/locked: "true"\nspec:\n x: 1\n'
    )


def test_a_flow_mapping_gets_the_entry_inside_its_braces_quoted_like_its_siblings():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations: {x: 'y'}\n"
    assert edit(before, ("imagebot.io/tag.app", "semver:~1")) == (
        "kind: Deployment\nmetadata:\n  name: a\n"
        "  annotations: {x: 'y', imagebot.io/tag.app: 'semver:~1'}\n"
    )


def test_an_empty_flow_mapping_is_filled():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations: {}\n"
    assert edit(before, ("imagebot.io/automated", "true")) == (
        'kind: Deployment\nmetadata:\n  name: a\n  annotations: {imagebot.io/automated: "true"}\n'
    )


def test_flow_metadata_gets_a_flow_annotations_mapping():
    before = "kind: Deployment\nmetadata: {name: a}\nspec: {}\n"
    assert edit(before, ("imagebot.io/automated", "true")) == (
        'kind: Deployment\nmetadata: {name: a, annotations: {imagebot.io/automated: "true"}}\n'
        "spec: {}\n"
    )


def test_an_empty_annotations_key_gets_its_first_entry_below_it():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations:  # policy\nspec: {}\n"
    assert edit(before, ("imagebot.io/automated", "true")) == (
        "kind: Deployment\nmetadata:\n  name: a\n  annotations:  # policy\n"
        '    imagebot.io/automated: "true"\nspec: {}\n'
    )


def test_a_file_without_a_final_line_break_keeps_it_that_way():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    x: 'y'"
    assert edit(before, ("b", "it's")) == before + "\n    b: 'it''s'"


def test_an_item_of_a_list_is_annotated_in_place():
    before = (
        "---\nkind: List\nitems:\n- kind: Deployment\n  metadata:\n    name: a\n"
        "- kind: Deployment\n  metadata:\n    name: b\n    labels: {a: b}\n"
    )
    assert edit(before, ("imagebot.io/automated", "true"), which=1) == before + (
        '    annotations:\n      imagebot.io/automated: "true"\n'
    )


def test_only_the_named_document_of_a_multi_document_file_changes():
    first = "---\n# first\nkind: Deployment\nmetadata:\n  name: a\n"
    second = "---\nkind: Deployment\nmetadata:\n  name: b\n"
    assert edit(first + second, ("imagebot.io/automated", "true"), which=1) == (
        first + second + '  annotations:\n    imagebot.io/automated: "true"\n'
    )


def test_a_bom_and_non_ascii_text_are_kept():
    before = "\ufeffkind: Deployment\nmetadata:\n  name: é\n  annotations:\n    a: é\n"
    assert edit(before, ("b", "ü")) == before + "    b: ü\n"


# --- changing ------------------------------------------------------------------------------


def test_a_value_keeps_its_quotes():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: 'false'  # c\n"
    assert edit(before, ("a", "true")) == before.replace("'false'", "'true'")


def test_a_plain_value_is_quoted_only_where_yaml_needs_it():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: glob:*\n"
    assert edit(before, ("a", "semver:~1.2")) == before.replace("glob:*", "semver:~1.2")
    assert edit(before, ("a", "1.20")) == before.replace("glob:*", '"1.20"')
    assert edit(before, ("a", "x: y, #z")) == before.replace("glob:*", '"x: y, #z"')


def test_an_unquoted_boolean_is_fixed_into_a_string():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: true\n"
    assert edit(before, ("a", "true")) == before.replace("true\n", '"true"\n')


def test_a_block_scalar_value_is_replaced_whole():
    before = (
        "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: |\n      hi\n"
        "      there\n    b: c\n"
    )
    assert edit(before, ("a", "x")) == (
        "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: x\n    b: c\n"
    )


def test_line_breaks_and_quotes_in_a_value_are_escaped():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: x\n"
    after = edit(before, ("a", 'two\nlines "q" \\'))
    assert after == before.replace("a: x", 'a: "two\\nlines \\"q\\" \\\\"')
    site = find_workloads(after.encode())[0]
    assert site.annotations["a"].value == 'two\nlines "q" \\'


# --- removing ------------------------------------------------------------------------------


def test_a_removed_annotation_takes_its_line_and_comment():
    before = (
        "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: x  # about a\n"
        "    # about b\n    b: y\nspec: {}\n"
    )
    assert edit(before, ("a", None)) == (
        "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    # about b\n    b: y\n"
        "spec: {}\n"
    )


def test_removing_the_last_annotation_removes_the_annotations_key():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations:  # x\n    a: 'x'\nspec: {}"
    assert edit(before, ("a", None)) == "kind: Deployment\nmetadata:\n  name: a\nspec: {}"


def test_removing_the_last_line_of_a_file_without_a_final_break():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: 'x'\n    b: c"
    assert edit(before, ("b", None)) == before.removesuffix("\n    b: c")


def test_removing_from_a_flow_mapping_removes_the_entry_and_its_comma():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations: {a: x, b: y, c: z}\n"
    assert edit(before, ("b", None)) == before.replace("b: y, ", "")
    assert edit(before, ("a", None)) == before.replace("a: x, ", "")
    assert edit(before, ("c", None)) == before.replace(", c: z", "")


def test_a_multi_line_flow_mapping_keeps_its_layout():
    before = "kind: Deployment\nmetadata:\n  name: a\n  annotations: {\n    a: x,\n    b: y\n  }\n"
    assert edit(before, ("a", None)) == before.replace("    a: x,\n", "")


def test_removing_a_missing_annotation_changes_nothing():
    before = "kind: Deployment\nmetadata:\n  name: a\n"
    data = before.encode()
    result = annotate(data, find_workloads(data)[0], [AnnotationEdit("a", None)])
    assert (result.content, result.changes) == (data, [])


def test_setting_the_value_it_has_changes_nothing():
    before = 'kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: "true"\n'
    data = before.encode()
    assert not annotate(data, find_workloads(data)[0], [AnnotationEdit("a", "true")]).changed


# --- the corpus -----------------------------------------------------------------------------


def test_flux_get_started_podinfo_is_locked_in_its_own_style():
    data = (GET_STARTED / "workloads/podinfo-dep.yaml").read_bytes()
    target = find_workloads(data)[0]
    result = annotate(data, target, [AnnotationEdit("fluxcd.io/locked", "true")])
    assert result.content == data.replace(
        b"    fluxcd.io/tag.podinfod: semver:~3.1\n",
        b'    fluxcd.io/tag.podinfod: semver:~3.1\n    fluxcd.io/locked: "true"\n',
    )
    assert all(site.locked for site in scan_bytes(result.content).sites)


def test_flux_get_started_redis_unlocks_to_exactly_its_other_lines():
    data = (GET_STARTED / "releases/redis.yaml").read_bytes()
    target = next(w for w in find_workloads(data) if w.name == "redis")
    keys = ("fluxcd.io/locked", "fluxcd.io/locked_msg", "fluxcd.io/locked_user")
    result = annotate(data, target, [AnnotationEdit(key, None) for key in keys])
    assert result.content == b"".join(
        line for line in data.splitlines(keepends=True) if b"fluxcd.io/locked" not in line
    )


# --- refused -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            "kind: Deployment\nmetadata:\n  name: a\n  annotations: &x\n    a: b\n",
            4,
            "anchor (&x)",
        ),
        ("x: &m\n  a: b\nkind: Deployment\nmetadata:\n  name: a\n  annotations: *m\n", 6, "alias"),
        ("kind: Deployment\nmetadata:\n  <<: {name: x}\n  name: a\n", 3, "merge key"),
        (
            "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: x\n    a: y\n",
            6,
            "twice",
        ),
        ("kind: Deployment\nmetadata:\n  name: a\n  annotations: ~\n", 4, "null"),
        ("kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: &q x\n", 5, "anchor"),
        ("kind: Deployment\nmetadata: &m\n  name: a\n  annotations: {a: b}\n", 2, "shared"),
    ],
)
def test_what_cannot_be_edited_safely_is_refused_with_file_and_line(text, line, reason):
    message = refused(text, ("a", "v"), ("b", "v"))
    assert message.startswith(f"manifest.yaml:{line}: deployment/a: ")
    assert reason in message


def test_a_comment_inside_a_flow_mapping_is_not_dropped():
    text = (
        "kind: Deployment\nmetadata:\n  name: a\n  annotations: {\n    a: x,  # c\n    b: y\n  }\n"
    )
    assert "a comment sits next to b" in refused(text, ("b", None))


def test_an_invalid_key_is_refused():
    text = "kind: Deployment\nmetadata:\n  name: a\n"
    assert "not a valid annotation key" in refused(text, ("a b", "v"))


# --- which keys ------------------------------------------------------------------------------


def test_a_policy_is_written_under_the_workloads_own_prefix():
    assert convention({}) == "imagebot.io/"
    assert convention({"fluxcd.io/automated": 1, "prometheus.io/scrape": 1}) == "fluxcd.io/"
    assert convention({"repository.fluxcd.io/app": 1}) == "fluxcd.io/"
    assert convention({"flux.weave.works/locked": 1}) == "flux.weave.works/"
    assert convention({"fluxcd.io/automated": 1, "imagebot.io/locked": 1}) == "imagebot.io/"
    assert set_policy({"fluxcd.io/automated": 1}, "locked", "true") == [
        AnnotationEdit("fluxcd.io/locked", "true")
    ]


def test_every_key_already_saying_a_policy_is_updated_so_none_contradicts():
    annotations = {"fluxcd.io/automated": 1, "flux.weave.works/automated": 1}
    assert set_policy(annotations, "automated", "false") == [
        AnnotationEdit("fluxcd.io/automated", "false"),
        AnnotationEdit("flux.weave.works/automated", "false"),
    ]
    assert unset_policy({"filter.fluxcd.io/app": 1, "imagebot.io/tag.app": 1}, "tag.app") == [
        AnnotationEdit("imagebot.io/tag.app", None),
        AnnotationEdit("filter.fluxcd.io/app", None),
    ]
    assert keys_for("tag.app")[-1] == "filter.fluxcd.io/app"


def test_rendered_values_read_back_as_the_same_string():
    for value in ["true", "1.20", "a: b", "#x", " lead", "é", "it's", "-", "~", "x\ty", "null"]:
        head = "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n"
        text = f"{head}    k: {render_value(value)}\n"
        annotation = find_workloads(text.encode())[0].annotations["k"]
        assert (annotation.value, annotation.is_string) == (value, True), value


def test_find_workloads_reads_kind_namespace_name_and_annotations(tmp_path: Path):
    data = (GET_STARTED / "releases/ghost.yaml").read_bytes()
    (ghost,) = find_workloads(data)
    assert (ghost.kind, ghost.namespace, ghost.name, ghost.doc, ghost.path) == (
        "HelmRelease",
        "demo",
        "ghost",
        0,
        (),
    )
    assert ghost.annotations["fluxcd.io/automated"].value == "false"
