"""HelmRelease values: Flux v1's container naming and path annotations, Flux v2's values."""

from __future__ import annotations

from tests.manifests.helpers import by_container, only


def flux1(values: str, annotations: str = "") -> str:
    meta = f"  annotations:\n{annotations}" if annotations else ""
    return (
        "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: rel\n"
        f"  namespace: demo\n{meta}spec:\n  releaseName: rel\n  values:\n{values}"
    )


def flux2(values: str) -> str:
    return (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: rel\n"
        f"spec:\n  values:\n{values}"
    )


def test_flux1_top_level_image_string_is_chart_image(scan):
    site = only(scan({"r.yaml": flux1("    image: bitnami/redis:5.0.7\n")}))
    assert (site.kind, site.namespace, site.name) == ("HelmRelease", "demo", "rel")
    assert site.container == "chart-image"
    assert site.reference_text == "bitnami/redis:5.0.7"
    assert [p.role for p in site.parts] == ["image"]


def test_flux1_top_level_image_mapping_is_chart_image(scan):
    values = "    image:\n      repository: bitnami/ghost\n      tag: 3.1.1-debian-9-r0\n"
    site = only(scan({"r.yaml": flux1(values)}))
    assert site.container == "chart-image"
    assert site.reference_text == "bitnami/ghost:3.1.1-debian-9-r0"
    assert [p.role for p in site.parts] == ["name", "tag"]
    assert site.part("tag").path == ("spec", "values", "image", "tag")


def test_flux1_values_key_names_the_container(scan):
    values = (
        "    image: main/app:1.0\n"
        "    sidecar:\n      image: proxy/envoy:2.0\n"
        "    db:\n      image:\n        repository: mongo\n        tag: '4.0'\n"
        "    deep:\n      nested:\n        image: not/seen:1.0\n"
    )
    sites = by_container(scan({"r.yaml": flux1(values)}))
    assert set(sites) == {"chart-image", "sidecar", "db"}
    assert sites["sidecar"].reference_text == "proxy/envoy:2.0"
    assert sites["db"].reference_text == "mongo:4.0"


def test_flux1_image_with_sibling_tag_and_registry(scan):
    values = "    app:\n      registry: quay.io\n      image: org/app\n      tag: v1.2\n"
    site = only(scan({"r.yaml": flux1(values)}))
    assert site.reference_text == "quay.io/org/app:v1.2"
    assert {p.role for p in site.parts} == {"registry", "name", "tag"}


def test_flux1_unquoted_number_tag_is_read_as_written(scan):
    values = "    image:\n      repository: nginx\n      tag: 1.20\n"
    assert only(scan({"r.yaml": flux1(values)})).tag == "1.20"


def test_flux1_path_annotations_map_an_image_and_win_over_the_guess(scan):
    values = "    image:\n      repository: org/app\n      tag: 1.0.0\n    other: {x: 1}\n"
    annotations = (
        "    repository.fluxcd.io/app: image.repository\n    tag.fluxcd.io/app: image.tag\n"
    )
    site = only(scan({"r.yaml": flux1(values, annotations)}))
    assert site.container == "app"
    assert site.reference_text == "org/app:1.0.0"
    assert site.part("name").path == ("spec", "values", "image", "repository")


def test_flux1_path_annotations_with_registry_and_repository_only(scan):
    values = "    sub:\n      reg: registry.example.com\n      repo: team/api:2.1\n"
    annotations = "    registry.fluxcd.io/api: sub.reg\n    repository.fluxcd.io/api: sub.repo\n"
    site = only(scan({"r.yaml": flux1(values, annotations)}))
    assert site.container == "api"
    assert site.reference_text == "registry.example.com/team/api:2.1"
    assert {p.role for p in site.parts} == {"registry", "image"}


def test_flux1_path_annotation_to_a_missing_value_is_an_error(scan):
    values = "    image: org/app:1.0\n"
    annotations = "    repository.fluxcd.io/app: nowhere.repository\n"
    found = scan({"r.yaml": flux1(values, annotations)})
    site = only(found)
    assert "no value at spec.values.nowhere.repository" in site.error


def test_flux2_images_anywhere_in_values(scan):
    values = (
        "    image:\n      repository: ghcr.io/my-org/my-api\n      tag: 1.7.99\n"
        "    initContainers:\n    - name: setup\n      image:\n"
        "        repository: busybox\n        tag: 1.36.0\n"
        "    nested:\n      deeper:\n        image:\n          repository: alpine\n"
        "          tag: 3.19.1\n"
        "    redis:\n      enabled: true\n      repository: public.ecr.aws/docker/library/redis\n"
        "      tag: 7.2.4\n"
        "    chartRepo:\n      repository: https://charts.example.com\n      tag: main\n"
        "    pullPolicy:\n      image:\n        pullPolicy: Always\n"
    )
    sites = by_container(scan({"r.yaml": flux2(values)}))
    assert {k: v.reference_text for k, v in sites.items()} == {
        "chart-image": "ghcr.io/my-org/my-api:1.7.99",
        "initContainers.0": "busybox:1.36.0",
        "nested.deeper": "alpine:3.19.1",
        "redis": "public.ecr.aws/docker/library/redis:7.2.4",
    }


def test_helmrelease_of_an_unknown_api_is_ignored(scan):
    text = flux1("    image: a/b:1\n").replace("helm.fluxcd.io/v1", "example.com/v1")
    assert scan({"r.yaml": text}).sites == []


def test_empty_image_values_are_not_sites(scan):
    values = "    image: ''\n    other:\n      image:\n        repository: ''\n"
    assert scan({"r.yaml": flux1(values)}).sites == []
