"""Writing where Argo CD Image Updater writes: the value's own bytes, or new lines in the
file's layout, or a new file in the tool's format; never anything else."""

from __future__ import annotations

from typing import Any

from imagebot.manifests.argowrite import WriteEdit, WriteTarget, write_back

DIGEST = "sha256:" + "ab" * 32
IMAGE = "registry.example.com/team/web"


def target(kind: str, **options: Any) -> WriteTarget:
    return WriteTarget(kind, "app/file.yaml", "argocd/web", IMAGE, **options)  # type: ignore[arg-type]


def write(content: bytes | None, *edits: tuple[WriteTarget, str | None, str | None]) -> bytes:
    result = write_back(content, [WriteEdit(t, tag, digest, "web") for t, tag, digest in edits])
    assert not result.errors, result.errors
    return result.content


def test_a_new_argocd_source_file_lists_kustomize_images_as_the_tool_writes_them():
    out = write(None, (target("source-kustomize", seed_images=("other:1.0",)), "1.2.0", None))

    assert out == (b"kustomize:\n  images:\n  - other:1.0\n  - " + IMAGE.encode() + b":1.2.0\n")


def test_a_kustomize_image_name_files_the_value_under_that_name():
    out = write(None, (target("source-kustomize", kustomize_name="team/web"), "1.2.0", None))

    assert out == f"kustomize:\n  images:\n  - team/web={IMAGE}:1.2.0\n".encode()


def test_an_existing_kustomize_entry_changes_alone_and_keeps_its_comment():
    old = f"# managed\nkustomize:\n  images:\n  - a:1 # pinned\n  - '{IMAGE}:1.0.0' # web\n"

    out = write(old.encode(), (target("source-kustomize"), "1.2.0", None))

    assert out == old.replace("1.0.0", "1.2.0").encode()


def test_a_missing_kustomize_entry_is_added_as_the_files_list_is_indented():
    old = b"kustomize:\n  images:\n    - a:1\n"

    out = write(old, (target("source-kustomize"), "1.2.0", None))

    assert out == old + f"    - {IMAGE}:1.2.0\n".encode()


def test_the_digest_strategy_writes_tag_and_digest():
    out = write(None, (target("source-kustomize"), "latest", DIGEST))

    assert f"  - {IMAGE}:latest@{DIGEST}\n".encode() in out


def test_a_new_helm_source_file_sorts_parameters_and_forces_strings():
    seeds = (("replicaCount", "2", False),)

    out = write(None, (target("source-helm", seed_parameters=seeds), "0.2", DIGEST))

    assert (
        out
        == (
            "helm:\n  parameters:\n"
            f"  - name: image.name\n    value: {IMAGE}\n    forcestring: true\n"
            f"  - name: image.tag\n    value: 0.2@{DIGEST}\n    forcestring: true\n"
            '  - name: replicaCount\n    value: "2"\n    forcestring: false\n'
        ).encode()
    )


def test_an_existing_helm_parameter_keeps_its_quotes_and_a_missing_one_is_added():
    old = (
        b"helm:\n  parameters:\n    - name: image.tag\n      value: '1.0'\n"
        b"      forcestring: true\n"
    )
    helm = target("source-helm", helm_name="image.repository")

    out = write(old, (helm, "1.1", None))

    assert out == old.replace(b"'1.0'", b"'1.1'") + (
        f"    - name: image.repository\n      value: {IMAGE}\n      forcestring: true\n".encode()
    )


def test_helm_image_spec_sets_one_parameter_with_the_whole_reference():
    out = write(None, (target("source-helm", helm_spec="web.image"), "2.0", None))

    assert f"  - name: web.image\n    value: {IMAGE}:2.0\n".encode() in out
    assert b"image.tag" not in out


def test_a_kustomization_without_images_gets_them_in_its_own_list_style():
    old = b"resources:\n  - deployment.yaml\n"

    out = write(old, (target("kustomization"), "1.2.0", None))

    assert out == old + f"images:\n  - name: {IMAGE}\n    newTag: 1.2.0\n".encode()


def test_a_kustomization_entry_named_by_kustomize_image_name_gets_new_name_and_tag():
    old = b"images:\n- name: team/web # base name\n  newTag: 1.0.0\n"

    out = write(old, (target("kustomization", kustomize_name="team/web"), "1.2.0", None))

    assert out == (
        f"images:\n- name: team/web # base name\n  newTag: 1.2.0\n  newName: {IMAGE}\n".encode()
    )


def test_a_kustomization_digest_the_tool_would_drop_is_refused():
    old = f"images:\n- name: {IMAGE}\n  newTag: 1.0.0\n  digest: {DIGEST}\n".encode()

    result = write_back(old, [WriteEdit(target("kustomization"), "1.2.0", None, "web")])

    assert result.content == old
    assert "would drop" in result.errors[0]


def test_helm_values_are_set_at_the_parameter_path_and_added_where_missing():
    old = b"# values\nimage:\n  tag: 1.0.0  # pinned\n  pullPolicy: Always\nreplicas: 1\n"
    values = target("helmvalues", helm_name="image.repository", helm_tag="image.tag")

    out = write(old, (values, "1.2.0", None))

    assert out == (
        b"# values\nimage:\n  tag: 1.2.0  # pinned\n  pullPolicy: Always\n"
        + f"  repository: {IMAGE}\n".encode()
        + b"replicas: 1\n"
    )


def test_a_dotted_key_in_a_values_file_is_the_parameter_itself():
    old = f"image.name: {IMAGE}\nimage.tag: v0.0.0\n".encode()

    out = write(old, (target("helmvalues"), "v1.0.0", None))

    assert out == old.replace(b"v0.0.0", b"v1.0.0")


def test_two_edits_adding_to_one_missing_list_make_one_list():
    a = target("source-kustomize")
    b = WriteTarget("source-kustomize", "app/file.yaml", "argocd/web", "other/api")

    out = write(b"other: 1\n", (a, "1", None), (b, "2", None))

    assert out == f"other: 1\nkustomize:\n  images:\n  - {IMAGE}:1\n  - other/api:2\n".encode()


def test_a_flow_style_list_is_not_edited():
    old = b"kustomize:\n  images: [a:1]\n"

    result = write_back(old, [WriteEdit(target("source-kustomize"), "1.2.0", None, "web")])

    assert result.content == old
    assert result.applied == []
    assert "flow style" in result.errors[0]


def test_a_file_that_is_not_yaml_is_left_alone_with_the_reason():
    old = b"kustomize: [\n"

    result = write_back(old, [WriteEdit(target("source-kustomize"), "1.2.0", None, "web")])

    assert result.content == old
    assert result.errors[0].startswith("web: app/file.yaml is not readable YAML")


def test_an_images_key_without_a_value_gets_the_list():
    old = b"resources:\n- deployment.yaml\nimages:  # none yet\nnamespace: web\n"

    out = write(old, (target("kustomization"), "1.2.0", None))

    assert out == old.replace(
        b"# none yet\n", f"# none yet\n- name: {IMAGE}\n  newTag: 1.2.0\n".encode()
    )


def test_an_existing_source_file_gets_the_applications_own_parameters_it_lacks():
    old = b"helm:\n  parameters:\n  - name: replicaCount\n    value: '3'\n    forcestring: false\n"
    seeds = (("replicaCount", "2", False), ("service.port", "8080", True))

    out = write(old, (target("source-helm", seed_parameters=seeds), "1.0", None))

    added = (
        '  - name: service.port\n    value: "8080"\n    forcestring: true\n'
        f"  - name: image.name\n    value: {IMAGE}\n    forcestring: true\n"
        '  - name: image.tag\n    value: "1.0"\n    forcestring: true\n'
    )
    assert out == old + added.encode()


def test_an_existing_source_file_gets_the_applications_own_images_it_lacks():
    old = b"kustomize:\n  images:\n  - existing:latest\n  - " + IMAGE.encode() + b":old\n"
    seeds = ("new", IMAGE + ":1.0")

    out = write(old, (target("source-kustomize", seed_images=seeds), "latest", None))

    assert out == b"kustomize:\n  images:\n  - existing:latest\n  - " + (
        IMAGE.encode() + b":latest\n  - new\n"
    )


def test_the_digest_strategy_sets_tag_and_digest_in_a_kustomization_entry():
    old = f"images:\n- name: {IMAGE}\n  newTag: stable\n".encode()

    out = write(old, (target("kustomization"), "stable", DIGEST))

    assert out == old + f"  digest: {DIGEST}\n".encode()


def test_two_images_of_one_chart_share_one_new_source_file():
    foo = WriteTarget(
        "source-helm", "f.yaml", "argocd/app", "foo/bar", helm_name="foo.image", helm_tag="foo.tag"
    )
    bar = WriteTarget(
        "source-helm", "f.yaml", "argocd/app", "bar/foo", helm_name="bar.image", helm_tag="bar.tag"
    )

    out = write(None, (foo, "1.1.0", None), (bar, "2.0.1", None))

    assert out == (
        b"helm:\n  parameters:\n"
        b"  - name: bar.image\n    value: bar/foo\n    forcestring: true\n"
        b"  - name: bar.tag\n    value: 2.0.1\n    forcestring: true\n"
        b"  - name: foo.image\n    value: foo/bar\n    forcestring: true\n"
        b"  - name: foo.tag\n    value: 1.1.0\n    forcestring: true\n"
    )
