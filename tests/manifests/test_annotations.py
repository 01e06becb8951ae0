"""Policies from workload annotations: imagebot's, Flux v1's as-is, Argo CD Image Updater's."""

from __future__ import annotations

import re

from imagebot.manifests.annotations import Annotation, AnnotationPolicies
from imagebot.reference import ImageReference
from tests.manifests.helpers import by_container


def workload(annotations: dict[str, str], containers: tuple[str, ...] = ("app", "sidecar")) -> str:
    ann = "".join(f"    {k}: {v}\n" for k, v in annotations.items())
    images = {"app": "ghcr.io/org/app:1.2.3", "sidecar": "envoyproxy/envoy:v1.29.1"}
    ctrs = "".join(
        f"      - name: {c}\n        image: {images.get(c, 'busybox:1.36')}\n" for c in containers
    )
    meta = f"  annotations:\n{ann}" if ann else ""
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
        f"{meta}spec:\n  template:\n    spec:\n      containers:\n{ctrs}"
    )


def sites_for(scan, annotations: dict[str, str], **kw):
    return by_container(scan({"w.yaml": workload(annotations, **kw)}))


def test_no_annotations_means_not_automated_and_no_policy(scan):
    site = sites_for(scan, {})["app"]
    assert (site.automated, site.locked, site.ignored, site.policy, site.source) == (
        False,
        False,
        False,
        None,
        "none",
    )
    assert site.error is None


def test_imagebot_annotations(scan):
    sites = sites_for(
        scan,
        {
            "imagebot.io/automated": '"true"',
            "imagebot.io/tag.app": "semver:~1.2",
            "imagebot.io/locked": '"true"',
            "imagebot.io/locked_msg": "waiting for QA",
            "imagebot.io/locked_user": "Ann <ann@example.com>",
        },
    )
    app, sidecar = sites["app"], sites["sidecar"]
    assert (app.policy, app.automated, app.locked) == ("semver:~1.2", True, True)
    assert (app.lock_message, app.lock_user) == ("waiting for QA", "Ann <ann@example.com>")
    assert app.source == "annotation:imagebot.io"
    assert sidecar.policy == "glob:*"  # automated, no tag policy: Flux v1's default
    assert not app.updatable


def test_flux_v1_annotations_are_read_as_is(scan):
    sites = sites_for(
        scan, {"fluxcd.io/automated": '"true"', "fluxcd.io/tag.app": "regex:^1\\.2\\..*"}
    )
    assert sites["app"].policy == "regex:^1\\.2\\..*"
    assert sites["app"].source == "annotation:fluxcd.io"
    assert sites["app"].updatable


def test_legacy_weave_prefix_and_filter_prefix(scan):
    sites = sites_for(
        scan,
        {
            "flux.weave.works/automated": '"true"',
            "flux.weave.works/tag.app": "glob:1.2.*",
            "filter.fluxcd.io/sidecar": "semver:~1.29",
        },
    )
    assert sites["app"].policy == "glob:1.2.*"
    assert sites["app"].source == "annotation:flux.weave.works"
    assert sites["sidecar"].policy == "semver:~1.29"
    assert sites["sidecar"].source == "annotation:filter.fluxcd.io"
    assert sites["sidecar"].automated


def test_bare_pattern_is_a_glob(scan):
    assert sites_for(scan, {"fluxcd.io/tag.app": "1.2.*"})["app"].policy == "glob:1.2.*"


def test_tag_all_applies_to_containers_without_their_own(scan):
    sites = sites_for(scan, {"fluxcd.io/tag_all": "semver:*", "fluxcd.io/tag.app": "semver:~1.2"})
    assert (sites["app"].policy, sites["sidecar"].policy) == ("semver:~1.2", "semver:*")


def test_booleans_count_only_when_exactly_true(scan):
    for value in ('"True"', '"yes"', '"1"', '"false"', '""'):
        sites = sites_for(scan, {"fluxcd.io/automated": value, "fluxcd.io/locked": value})
        assert not sites["app"].automated, value
        assert not sites["app"].locked, value
        assert sites["app"].error is None


def test_unquoted_boolean_annotation_is_an_error(scan):
    site = sites_for(scan, {"fluxcd.io/automated": "true"})["app"]
    assert "not a string" in site.error


def test_imagebot_annotations_win_over_flux_ones(scan):
    sites = sites_for(
        scan,
        {
            "imagebot.io/automated": '"false"',
            "fluxcd.io/automated": '"true"',
            "imagebot.io/tag.app": "semver:~2",
            "fluxcd.io/tag.app": "semver:~1",
        },
    )
    assert (sites["app"].automated, sites["app"].policy) == (False, "semver:~2")


def test_conflicting_flux_prefixes_are_an_error(scan):
    sites = sites_for(scan, {"fluxcd.io/tag.app": "semver:~1", "filter.fluxcd.io/app": "semver:~2"})
    assert "conflicting annotations" in sites["app"].error
    assert sites["sidecar"].error == sites["app"].error  # the whole workload is held


def test_bad_policy_holds_the_whole_workload(scan):
    sites = sites_for(
        scan, {"fluxcd.io/automated": '"true"', "fluxcd.io/tag.app": "semver:>=banana"}
    )
    assert "container app: policy" in sites["app"].error
    assert sites["sidecar"].error == sites["app"].error
    assert not sites["sidecar"].updatable
    assert sites["app"].policy == "semver:>=banana"  # the row still shows what was written


def test_tag_annotation_naming_no_container_is_an_error(scan):
    sites = sites_for(scan, {"fluxcd.io/automated": '"true"', "fluxcd.io/tag.ap": "semver:~1"})
    assert "names no container" in sites["app"].error
    assert "app, sidecar" in sites["app"].error


def test_unknown_imagebot_annotation_is_an_error_with_a_hint(scan):
    site = sites_for(scan, {"imagebot.io/automate": '"true"'})["app"]
    assert "unknown annotation imagebot.io/automate" in site.error
    assert "imagebot.io/automated" in site.error


def test_other_flux_annotations_are_ignored(scan):
    site = sites_for(scan, {"fluxcd.io/sync-checksum": "abc123"})["app"]
    assert site.error is None


def test_ignore(scan):
    assert sites_for(scan, {"fluxcd.io/ignore": '"true"'})["app"].ignored
    assert not sites_for(scan, {"fluxcd.io/ignore": "sync_only"})["app"].ignored
    assert sites_for(scan, {"imagebot.io/ignore": '"true"'})["app"].ignored


# --- Argo CD Image Updater --------------------------------------------------------------------

ARGO = "argocd-image-updater.argoproj.io/"


def test_argo_image_list_with_constraint_means_semver(scan):
    sites = sites_for(scan, {ARGO + "image-list": "api=ghcr.io/org/app:~1.2"})
    app = sites["app"]
    assert (app.policy, app.automated, app.source) == (
        "semver:~1.2",
        True,
        "annotation:argocd-image-updater.argoproj.io",
    )
    assert not sites["sidecar"].automated  # not in the image list


def test_argo_image_list_without_constraint(scan):
    site = sites_for(scan, {ARGO + "image-list": "ghcr.io/org/app"})["app"]
    assert site.policy == "semver:*"


def test_argo_update_strategies(scan):
    expected = {
        "latest": "newest-build",
        "newest-build": "newest-build",
        "name": "alphabetical:asc",
        "alphabetical": "alphabetical:asc",
        "semver": "semver:*",
    }
    for strategy, policy in expected.items():
        annotations = {
            ARGO + "image-list": "a=ghcr.io/org/app",
            ARGO + "a.update-strategy": strategy,
        }
        site = sites_for(scan, annotations)["app"]
        assert (site.policy, site.error) == (policy, None), strategy


def test_argo_digest_strategy_is_reported(scan):
    annotations = {ARGO + "image-list": "a=ghcr.io/org/app", ARGO + "a.update-strategy": "digest"}
    site = sites_for(scan, annotations)["app"]
    assert "update strategy 'digest' is not supported" in site.error


def test_argo_allow_and_ignore_tags_become_one_filter(scan):
    annotations = {
        ARGO + "image-list": "a=ghcr.io/org/app",
        ARGO + "a.update-strategy": "latest",
        ARGO + "a.allow-tags": "regexp:^v[0-9]",
        ARGO + "a.ignore-tags": "v1.0.*, *-rc*",
    }
    site = sites_for(scan, annotations)["app"]
    assert site.error is None
    keep = [
        t for t in ["v1.0.1", "v1.1.0", "v2.0.0-rc1", "main", "v2.0.0"] if re.search(site.filter, t)
    ]
    assert keep == ["v1.1.0", "v2.0.0"]


def test_argo_allow_tags_any(scan):
    annotations = {ARGO + "image-list": "a=ghcr.io/org/app", ARGO + "a.allow-tags": "any"}
    site = sites_for(scan, annotations)["app"]
    assert (site.filter, site.error) == (None, None)


def test_argo_options_that_do_not_map_are_errors(scan):
    for key, value in [
        ("a.helm.image-tag", "image.tag"),
        ("a.platforms", "linux/amd64"),
        ("b.update-strategy", "semver"),
        ("a.allow-tags", "glob:v*"),
    ]:
        annotations = {ARGO + "image-list": "a=ghcr.io/org/app", ARGO + key: value}
        site = sites_for(scan, annotations)["app"]
        assert ARGO in (site.error or ""), key


def test_argo_write_back_settings_are_not_errors(scan):
    annotations = {
        ARGO + "image-list": "a=ghcr.io/org/app:~1.2",
        ARGO + "write-back-method": "git",
        ARGO + "git-branch": "main",
    }
    assert sites_for(scan, annotations)["app"].error is None


def test_argo_constraint_with_a_non_semver_strategy_is_an_error(scan):
    annotations = {
        ARGO + "image-list": "a=ghcr.io/org/app:~1.2",
        ARGO + "a.update-strategy": "newest-build",
    }
    assert "only applies to the semver strategy" in sites_for(scan, annotations)["app"].error


def test_annotation_policies_directly():
    policies = AnnotationPolicies(
        {"fluxcd.io/automated": Annotation("true"), "fluxcd.io/tag.app": Annotation("semver:~1")},
        ["app"],
    )
    result = policies.for_container("app", ImageReference.parse("org/app:1.0.0"))
    assert (result.policy, result.automated, policies.errors) == ("semver:~1", True, [])


def test_a_workload_without_annotations_reads_as_the_full_reading_does():
    labels = {"app": Annotation("web", True, 3), "version": Annotation("1", False, 4)}
    image = ImageReference.parse("ghcr.io/org/app:1.2.3")
    for given in ({}, labels):
        quick = AnnotationPolicies({}, ["app"], labels=given)
        full = AnnotationPolicies({}, ["app"], labels=given)
        full.silent = False
        for init in (False, True):
            assert quick.for_container("app", image, init=init) == full.for_container(
                "app", image, init=init
            )
            assert quick.for_container("app", None) == full.for_container("app", None)
        assert quick.errors == full.errors == []
    keel = AnnotationPolicies({}, ["app"], labels={"keel.sh/policy": Annotation("minor", True, 3)})
    assert keel.for_container("app", image).policy is not None
