"""Duplicate keys on the path to an image make that document an error naming the lines,
never a rewrite of one of them: YAML tools disagree on which of two keys counts."""

from __future__ import annotations

import textwrap

import pytest

from imagebot.manifests import Edit, rewrite, scan_bytes


def deployment(pod_spec: str) -> str:
    return textwrap.dedent(
        """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          annotations: {imagebot.io/automated: "true"}
        spec:
          template:
            spec:
        """
    ) + textwrap.indent(textwrap.dedent(pod_spec), "      ")


OTHER = (
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: ok}\n"
    "spec:\n  containers: [{name: x, image: 'nginx:1'}]\n"
)


@pytest.mark.parametrize(
    ("pod_spec", "message"),
    [
        (
            "containers:\n- name: app\n  image: nginx:1.0\n  image: nginx:2.0\n",
            'duplicate key "image" (lines 11 and 12)',
        ),
        (
            "containers: []\ncontainers:\n- {name: app, image: 'nginx:1.0'}\n",
            'duplicate key "containers" (lines 9 and 10)',
        ),
        (
            "containers:\n- {name: app, image: 'nginx:1.0'}\n"
            "containers:\n- {name: b, image: 'x:1'}\n",
            'duplicate key "containers" (lines 9 and 11)',
        ),
    ],
)
def test_a_duplicate_key_on_the_way_to_an_image_is_an_error_naming_its_lines(pod_spec, message):
    found = scan_bytes((deployment(pod_spec) + OTHER).encode())

    web = [s for s in found.sites if s.name == "web"]
    assert web
    assert all(message in (s.error or "") for s in web)
    assert [s.error for s in found.sites if s.name == "ok"] == [None]  # other documents read on


def test_two_spec_keys_are_an_error_for_the_document():
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
        "spec:\n  containers: [{name: a, image: 'x:1'}]\nspec: {}\n"
    )

    (site,) = scan_bytes(text.encode()).sites

    assert 'duplicate key "spec" (lines 4 and 6)' in (site.error or "")


def test_two_image_keys_in_helm_values_are_an_error():
    text = textwrap.dedent(
        """\
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: app, annotations: {imagebot.io/automated: "true"}}
        spec:
          values:
            image: {repository: ghcr.io/org/app, tag: 1.0.0}
            image: {repository: ghcr.io/org/app, tag: 2.0.0}
        """
    )
    sites = scan_bytes(text.encode()).sites

    assert sites
    assert all('duplicate key "image" (lines 6 and 7)' in (s.error or "") for s in sites)


def test_a_key_that_overrides_a_merged_one_is_not_a_duplicate():
    text = textwrap.dedent(
        """\
        x-base: &base {image: 'app:1.0', restart: always}
        services:
          web:
            <<: *base
            image: app:2.0
        """
    )
    (site,) = scan_bytes(text.encode(), "compose.yaml").sites

    assert (site.reference_text, site.error) == ("app:2.0", None)


def test_a_rewrite_refuses_a_file_that_gained_a_duplicate_key_since_it_was_read():
    text = deployment("containers:\n- name: app\n  image: nginx:1.0\n")
    (site,) = scan_bytes(text.encode()).sites
    now = text + "        image: nginx:2.0\n"  # a second image key for the same container

    result = rewrite(now.encode(), [Edit(site, "1.1")])

    assert result.content == now.encode()
    assert 'duplicate key "image"' in result.errors[0]
