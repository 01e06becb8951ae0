"""The rewriter: only the image value changes, byte for byte, or nothing is written."""

from __future__ import annotations

import importlib
import os
import stat
from pathlib import Path

import pytest

from imagebot.manifests import Edit, RewriteResult, apply, discover, rewrite
from tests.manifests.helpers import write_tree

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def edit_text(
    tmp_path: Path, text: str | bytes, container: str | None = None, **change: str | None
) -> tuple[bytes, RewriteResult]:
    data = text.encode() if isinstance(text, str) else text
    write_tree(tmp_path, {"m.yaml": data})
    sites = discover(tmp_path).sites
    site = next(s for s in sites if container is None or s.container == container)
    result = rewrite(data, [Edit(site, **change)])  # type: ignore[arg-type]
    return data, result


def pod(image_line: str, *, eol: str = "\n", extra: str = "") -> str:
    lines = [
        "apiVersion: v1",
        "kind: Pod",
        "metadata:",
        "  name: p",
        "spec:",
        "  containers:",
        "  - name: main",
        f"    image: {image_line}",
    ]
    return eol.join(lines) + eol + extra


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("nginx:1.25.3", "nginx:1.25.4"),
        ('"nginx:1.25.3"', '"nginx:1.25.4"'),
        ("'nginx:1.25.3'", "'nginx:1.25.4'"),
        ("nginx:1.25.3   # pinned by ops", "nginx:1.25.4   # pinned by ops"),
        ("&img nginx:1.25.3", "&img nginx:1.25.4"),
        ("!!str nginx:1.25.3", "!!str nginx:1.25.4"),
    ],
)
def test_only_the_tag_changes_and_the_style_is_kept(tmp_path, written, expected):
    old, result = edit_text(tmp_path, pod(written), new_tag="1.25.4")
    assert result.errors == []
    assert result.content == old.replace(written.encode(), expected.encode())


def test_crlf_bom_multibyte_and_trailing_spaces_survive(tmp_path):
    text = "\ufeff" + pod("nginx:1.25.3  ", eol="\r\n", extra='# café ☕ 日本\r\nnote: "é"   \r\n')
    text = text.replace("name: p", "name: pé")
    data = text.encode("utf-8")
    _old, result = edit_text(tmp_path, data, new_tag="1.25.4")
    assert result.errors == []
    assert result.content == data.replace(b"nginx:1.25.3", b"nginx:1.25.4")


def test_flow_style_and_one_space_indents(tmp_path):
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n template:\n"
        "  spec:\n   containers: [{name: a, image: 'redis:7.2.3'}, {name: b, image: redis:7.2.3}]\n"
    )
    data, result = edit_text(tmp_path, text, "b", new_tag="7.2.4")
    assert result.content == data.replace(b"image: redis:7.2.3}", b"image: redis:7.2.4}")


def test_other_documents_block_scalars_and_leading_marker_are_untouched(tmp_path):
    text = (
        "---\n# leading comment\napiVersion: v1\nkind: ConfigMap\ndata:\n  script: |\n"
        "    image: nginx:1.25.3\n\n    echo hi\n  folded: >\n    a\n    b\n---\n"
        + pod("nginx:1.25.3")
        + "---\n\n\nkind: Other\n"
    )
    data, result = edit_text(tmp_path, text, new_tag="1.25.4")
    expected = (
        data[: data.rindex(b"nginx:1.25.3")]
        + b"nginx:1.25.4"
        + data[data.rindex(b"nginx:1.25.3") + len(b"nginx:1.25.3") :]
    )
    assert result.content == expected


def test_a_number_like_tag_is_quoted_when_the_old_value_was_a_plain_string(tmp_path):
    text = "images:\n- name: nginx\n  newTag: 1.19-alpine\n"
    write_tree(tmp_path, {"kustomization.yaml": text})
    (site,) = discover(tmp_path).sites
    result = rewrite(text.encode(), [Edit(site, "1.20")])
    assert result.content == b'images:\n- name: nginx\n  newTag: "1.20"\n'
    assert result.notes == ["kustomization.yaml:3: quoted 1.20 to keep it a string"]


def test_an_unquoted_number_tag_stays_unquoted(tmp_path):
    text = "images:\n- name: nginx\n  newTag: 1.19\n"
    write_tree(tmp_path, {"kustomization.yaml": text})
    (site,) = discover(tmp_path).sites
    assert site.tag == "1.19"
    result = rewrite(text.encode(), [Edit(site, "1.20")])
    assert result.content == b"images:\n- name: nginx\n  newTag: 1.20\n"
    assert result.notes == []


def test_quoted_values_are_never_requoted(tmp_path):
    text = "images:\n- name: nginx\n  newTag: '1.19'\n"
    write_tree(tmp_path, {"kustomization.yaml": text})
    (site,) = discover(tmp_path).sites
    assert (
        rewrite(text.encode(), [Edit(site, "1.20")]).content
        == text.replace("'1.19'", "'1.20'").encode()
    )


def test_tag_and_digest_change_together(tmp_path):
    data, result = edit_text(
        tmp_path, pod(f"busybox:1.36.0@{DIGEST_A}"), new_tag="1.36.1", new_digest=DIGEST_B
    )
    assert result.content == data.replace(
        f"1.36.0@{DIGEST_A}".encode(), f"1.36.1@{DIGEST_B}".encode()
    )


def test_a_pinned_digest_without_the_new_digest_is_refused(tmp_path):
    data, result = edit_text(tmp_path, pod(f"busybox:1.36.0@{DIGEST_A}"), new_tag="1.36.1")
    assert result.content == data
    assert "pinned by digest" in result.errors[0]
    assert result.errors[0].startswith("m.yaml:8: default:pod/p container main: ")


def test_a_digest_for_an_unpinned_reference_is_not_added(tmp_path):
    data, result = edit_text(tmp_path, pod("busybox:1.36.0"), new_tag="1.36.1", new_digest=DIGEST_B)
    assert result.content == data.replace(b"1.36.0", b"1.36.1")
    assert "digest not written" in result.notes[0]


def test_split_forms_change_only_what_changed(tmp_path):
    text = f"""\
apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata: {{name: r}}
spec:
  values:
    image:
      registry: docker.io
      repository: bitnami/redis
      tag: 5.0.7 # old
      digest: "{DIGEST_A}"
"""
    data, result = edit_text(tmp_path, text, new_tag="5.0.8", new_digest=DIGEST_B)
    assert result.content == data.replace(b"5.0.7", b"5.0.8").replace(
        DIGEST_A.encode(), DIGEST_B.encode()
    )


def test_name_change_in_a_split_form(tmp_path):
    text = "images:\n- name: podinfo\n  newName: ghcr.io/old/podinfo\n  newTag: 6.0.0\n"
    write_tree(tmp_path, {"kustomization.yaml": text})
    (site,) = discover(tmp_path).sites
    result = rewrite(text.encode(), [Edit(site, "6.0.1", new_name="ghcr.io/new/podinfo")])
    assert result.content == text.replace("old", "new").replace("6.0.0", "6.0.1").encode()


def test_name_change_in_a_combined_reference(tmp_path):
    data, result = edit_text(
        tmp_path, pod("nginx:1.25.3"), new_tag="1.25.4", new_name="mirror.example.com/nginx"
    )
    assert result.content == data.replace(b"nginx:1.25.3", b"mirror.example.com/nginx:1.25.4")


def test_a_kustomize_entry_without_new_tag_cannot_get_one(tmp_path):
    text = "images:\n- name: app\n  newName: ghcr.io/org/app\n"
    write_tree(tmp_path, {"kustomization.yaml": text})
    (site,) = discover(tmp_path).sites
    result = rewrite(text.encode(), [Edit(site, "2.0")])
    assert result.content == text.encode()
    assert "no tag value to change" in result.errors[0]


def test_an_image_in_a_block_scalar_is_not_rewritten(tmp_path):
    data, result = edit_text(tmp_path, pod("|-\n      nginx:1.25.3"), new_tag="1.25.4")
    assert result.content == data
    assert "block scalar" in result.errors[0]


def test_an_invalid_new_tag_is_refused(tmp_path):
    data, result = edit_text(tmp_path, pod("nginx:1.25.3"), new_tag="bad tag")
    assert result.content == data
    assert "invalid tag" in result.errors[0]


def test_a_site_with_an_error_is_never_rewritten(tmp_path):
    data, result = edit_text(tmp_path, pod("NOT A REF"), new_tag="1.0")
    assert result.content == data
    assert "could not be read" in result.errors[0]


def test_a_file_changed_since_discovery_is_refused(tmp_path):
    data = pod("nginx:1.25.3").encode()
    write_tree(tmp_path, {"m.yaml": data})
    (site,) = discover(tmp_path).sites
    changed = data.replace(b"nginx:1.25.3", b"nginx:1.26.0")
    result = rewrite(changed, [Edit(site, "1.25.4")])
    assert result.content == changed
    assert "changed since it was read" in result.errors[0]


def test_edits_are_independent_a_refused_one_does_not_block_the_others(tmp_path):
    text = pod("nginx:1.25.3") + "  - name: side\n    image: >-\n      busybox:1.36\n"
    write_tree(tmp_path, {"m.yaml": text})
    sites = {s.container: s for s in discover(tmp_path).sites}
    result = rewrite(text.encode(), [Edit(sites["main"], "1.25.4"), Edit(sites["side"], "1.37")])
    assert result.content == text.replace("nginx:1.25.3", "nginx:1.25.4").encode()
    assert len(result.errors) == 1
    assert "block scalar" in result.errors[0]
    assert [e.site.container for e in result.applied] == ["main"]


def test_a_shared_anchor_takes_one_value_only_or_the_file_is_left_as_it_is(tmp_path):
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        "  - {name: a, image: &img 'nginx:1.25.3'}\n  - {name: b, image: *img}\n"
    )
    write_tree(tmp_path, {"m.yaml": text})
    sites = {s.container: s for s in discover(tmp_path).sites}
    same = rewrite(text.encode(), [Edit(sites["a"], "1.25.4"), Edit(sites["b"], "1.25.4")])
    assert same.content == text.replace("1.25.3", "1.25.4").encode()
    assert same.errors == []
    clash = rewrite(text.encode(), [Edit(sites["a"], "1.25.4"), Edit(sites["b"], "1.26.0")])
    assert "shared through anchor &img" in clash.errors[0]
    assert clash.content == text.encode()
    assert clash.applied == []


def test_no_edits_means_the_same_bytes(tmp_path):
    data = pod("nginx:1.25.3").encode()
    assert rewrite(data, []).content is data


@pytest.mark.parametrize(
    ("corruption", "reason"),
    [("x", "reads 'nginx:1.25.4x'"), (": oops", "not valid YAML"), ("\n  - 1", "line")],
)
def test_verification_refuses_a_result_that_reads_differently(
    tmp_path, monkeypatch, corruption, reason
):
    rw = importlib.import_module("imagebot.manifests.rewrite")
    real = rw.render_scalar
    monkeypatch.setattr(rw, "render_scalar", lambda t, n, v: (real(t, n, v)[0] + corruption, None))
    data, result = edit_text(tmp_path, pod("nginx:1.25.3"), new_tag="1.25.4")
    assert result.content == data
    assert "would not read back as intended" in result.errors[0]
    assert reason in result.errors[0]
    assert result.applied == []


# --- apply: files on disk -------------------------------------------------------------------


def test_apply_writes_changed_files_atomically_and_keeps_their_mode(tmp_path):
    write_tree(tmp_path, {"a.yaml": pod("nginx:1.25.3"), "b.yaml": pod("redis:7.2.3")})
    os.chmod(tmp_path / "a.yaml", 0o640)
    before_b = (tmp_path / "b.yaml").stat()
    sites = {s.file: s for s in discover(tmp_path).sites}
    changes = apply(tmp_path, [Edit(sites["a.yaml"], "1.25.4"), Edit(sites["b.yaml"], "7.2.3")])
    assert [(c.file, c.changed, c.errors) for c in changes] == [
        ("a.yaml", True, []),
        ("b.yaml", False, []),
    ]
    assert (tmp_path / "a.yaml").read_text() == pod("nginx:1.25.4")
    assert stat.S_IMODE((tmp_path / "a.yaml").stat().st_mode) == 0o640
    assert (tmp_path / "b.yaml").stat().st_mtime_ns == before_b.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml"]


def test_apply_refuses_symlinks_and_files_outside_the_root(tmp_path):
    repo = write_tree(tmp_path / "repo", {"a.yaml": pod("nginx:1.25.3")})
    (site,) = discover(repo).sites
    os.rename(repo / "a.yaml", repo / "real.yaml")
    os.symlink(repo / "real.yaml", repo / "a.yaml")
    (change,) = apply(repo, [Edit(site, "1.25.4")])
    assert not change.changed
    assert "cannot rewrite" in change.errors[0]
    assert (repo / "real.yaml").read_text() == pod("nginx:1.25.3")
    outside = Edit(type(site)(**{**site.__dict__, "file": "../escape.yaml"}), "1.0")
    (change,) = apply(repo, [outside])
    assert "not inside the repository" in change.errors[0]


def test_a_file_with_trailing_tabs_is_rewritten_in_place(tmp_path):
    text = pod("nginx:1.25.3\t", extra="other: x\t \t\n")
    data, result = edit_text(tmp_path, text, new_tag="1.25.4")
    assert result.errors == []
    assert result.content == data.replace(b"nginx:1.25.3", b"nginx:1.25.4")


def test_a_split_image_whose_other_part_changed_is_refused(tmp_path):
    text = "images:\n- name: app\n  newName: ghcr.io/org/app\n  newTag: 1.0.0\n"
    write_tree(tmp_path, {"kustomization.yaml": text})
    (site,) = discover(tmp_path).sites
    moved = text.replace("ghcr.io/org/app", "ghcr.io/org/other").encode()
    result = rewrite(moved, [Edit(site, "1.0.1")])
    assert result.content == moved
    assert "changed since it was read" in result.errors[0]
