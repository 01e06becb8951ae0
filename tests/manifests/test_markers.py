"""Flux v2 marker comments and the policies they name (Flux objects or imagebot files)."""

from __future__ import annotations

from imagebot.manifests.discovery import DiscoveryCache, discover
from imagebot.manifests.yamlsource import blob_id
from tests.manifests.helpers import by_container, only, write_tree

FLUX_POLICY = """\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  image: ghcr.io/stefanprodan/podinfo
  interval: 1m
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: 5.0.x
"""

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: apps
spec:
  template:
    spec:
      containers:
      - name: podinfod
        image: ghcr.io/stefanprodan/podinfo:5.0.0 # {"$imagepolicy": "flux-system:podinfo"}
      - name: unmarked
        image: busybox:1.36
"""


def test_marker_on_a_container_image_uses_the_flux_image_policy(scan):
    sites = by_container(scan({"policy.yaml": FLUX_POLICY, "app.yaml": WORKLOAD}))
    site = sites["podinfod"]
    assert (site.policy, site.automated, site.source, site.error) == (
        "semver:5.0.x",
        True,
        "marker:flux-system:podinfo",
        None,
    )
    assert (site.kind, site.name, site.namespace) == ("Deployment", "podinfo", "apps")
    assert not sites["unmarked"].automated


def test_marker_naming_a_missing_policy_is_a_warning_and_the_value_is_left_alone(scan):
    found = scan({"app.yaml": WORKLOAD})
    site = by_container(found)["podinfod"]
    assert site.error is None
    assert "flux-system:podinfo" in site.warning
    assert "not defined" in site.warning
    assert site.reference_text == "ghcr.io/stefanprodan/podinfo:5.0.0"
    assert not site.updatable
    assert not found.has_errors


def test_name_and_tag_markers_in_helm_values_form_one_site(scan):
    release = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, namespace: apps}
spec:
  values:
    image:
      repository: ghcr.io/stefanprodan/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}
      tag: 5.0.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
"""
    site = only(scan({"policy.yaml": FLUX_POLICY, "release.yaml": release}))
    assert site.container == "chart-image"
    assert (site.policy, site.source) == ("semver:5.0.x", "marker:flux-system:podinfo")
    assert site.error is None


def test_markers_on_kustomize_images(scan):
    kustomization = """\
images:
- name: podinfo
  newName: ghcr.io/stefanprodan/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}
  newTag: 5.0.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
"""
    site = only(scan({"policy.yaml": FLUX_POLICY, "kustomization.yaml": kustomization}))
    assert (site.container, site.policy, site.error) == ("podinfo", "semver:5.0.x", None)


def test_markers_on_any_scalar_make_their_own_site(scan):
    values = """\
# plain values file of some tool
app:
  image:
    repo: ghcr.io/stefanprodan/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}
    version: "5.0.0" # {"$imagepolicy": "flux-system:podinfo:tag"}
other:
  ref: 'ghcr.io/stefanprodan/podinfo:5.0.1'   # {"$imagepolicy": "flux-system:podinfo"}
"""
    found = scan({"policy.yaml": FLUX_POLICY, "config/settings.yaml": values})
    sites = by_container(found)
    assert set(sites) == {"app.image", "other"}
    split = sites["app.image"]
    assert split.reference_text == "ghcr.io/stefanprodan/podinfo:5.0.0"
    assert [p.role for p in split.parts] == ["name", "tag"]
    assert sites["other"].reference_text == "ghcr.io/stefanprodan/podinfo:5.0.1"
    assert all(s.error is None and s.automated for s in found.sites)


def test_tag_only_marker_takes_the_image_from_the_policy(scan):
    values = 'podinfo:\n  version: 5.0.0 # {"$imagepolicy": "flux-system:podinfo:tag"}\n'
    site = only(scan({"policy.yaml": FLUX_POLICY, "values.yaml": values}))
    assert site.reference_text == "ghcr.io/stefanprodan/podinfo:5.0.0"
    assert site.fixed_name == "ghcr.io/stefanprodan/podinfo"
    assert site.error is None


def test_marker_on_the_wrong_part_is_an_error(scan):
    text = WORKLOAD.replace('"flux-system:podinfo"', '"flux-system:podinfo:tag"')
    site = by_container(scan({"policy.yaml": FLUX_POLICY, "app.yaml": text}))["podinfod"]
    assert "expects a tag" in site.error


def test_flux_policy_for_another_image_decides_the_whole_value(scan):
    text = WORKLOAD.replace("ghcr.io/stefanprodan/podinfo:5.0.0", "nginx:1.25.3")
    site = by_container(scan({"policy.yaml": FLUX_POLICY, "app.yaml": text}))["podinfod"]
    assert site.error is None
    assert site.policy_image == "ghcr.io/stefanprodan/podinfo"
    assert site.repository == "ghcr.io/stefanprodan/podinfo"
    assert site.reference_text == "nginx:1.25.3"


def test_imagebot_policy_file_for_another_image_is_an_error(scan):
    policy = (
        "apiVersion: imagebot.io/v1\nkind: ImagePolicy\n"
        "metadata: {name: podinfo, namespace: flux-system}\n"
        "spec: {image: ghcr.io/stefanprodan/podinfo, policy: 'semver:~5.0'}\n"
    )
    text = WORKLOAD.replace("ghcr.io/stefanprodan/podinfo:5.0.0", "nginx:1.25.3")
    site = by_container(scan({"policies/p.yaml": policy, "app.yaml": text}))["podinfod"]
    assert "is for ghcr.io/stefanprodan/podinfo" in site.error
    assert site.policy_image is None


def test_malformed_marker_is_a_file_error(scan):
    text = 'image: nginx:1.25.3 # {"$imagepolicy": "just-a-name"}\n'
    found = scan({"x.yaml": text})
    assert [(i.file, i.line) for i in found.errors] == [("x.yaml", 1)]


def test_marker_inside_a_block_scalar_or_a_comment_is_not_a_marker(scan):
    text = """\
# image: nginx:1.25.3 # {"$imagepolicy": "flux-system:podinfo"}
data:
  embedded.yaml: |
    image: nginx:1.25.3 # {"$imagepolicy": "flux-system:podinfo"}
"""
    found = scan({"cm.yaml": text})
    assert found.sites == []
    assert found.errors == []


def test_marker_not_after_a_scalar_is_reported(scan):
    text = 'image: # {"$imagepolicy": "flux-system:podinfo"}\n  repository: nginx\n'
    found = scan({"x.yaml": text})
    assert "not on a scalar value" in found.errors[0].message


def test_marker_site_respects_workload_locks(scan):
    text = WORKLOAD.replace(
        "  namespace: apps\n", '  namespace: apps\n  annotations:\n    imagebot.io/locked: "true"\n'
    )
    site = by_container(scan({"policy.yaml": FLUX_POLICY, "app.yaml": text}))["podinfod"]
    assert site.automated
    assert site.locked
    assert not site.updatable


def test_imagebot_policy_file_resolves_a_marker(scan):
    policy = """\
apiVersion: imagebot.io/v1
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: flux-system
spec:
  image: ghcr.io/stefanprodan/podinfo
  policy: semver:~5.0
  filter: '^v?(?P<v>.*)$'
  extract: '$v'
  sameFamily: false
"""
    found = scan({"policies/podinfo.yaml": policy, "app.yaml": WORKLOAD})
    site = by_container(found)["podinfod"]
    assert (site.policy, site.filter, site.extract, site.same_family, site.error) == (
        "semver:~5.0",
        "^v?(?P<v>.*)$",
        "$v",
        False,
        None,
    )


def test_policy_dirs_are_read_even_when_excluded(scan):
    policy = (
        "apiVersion: imagebot.io/v1\nkind: ImagePolicy\nmetadata: {name: podinfo}\n"
        "spec: {policy: 'semver:~5.0'}\n"
    )
    found = scan({"policies/p.yaml": policy, "app.yaml": WORKLOAD}, exclude=["policies/**"])
    site = by_container(found)["podinfod"]
    assert (site.policy, site.error) == ("semver:~5.0", None)  # namespace-less: any namespace


def test_flux_policy_with_a_broken_repository_is_reported_on_the_row(scan):
    broken = FLUX_POLICY.replace("  image: ghcr.io/stefanprodan/podinfo\n", "  interval: 1m\n", 1)
    found = scan({"policy.yaml": broken, "app.yaml": WORKLOAD})
    site = by_container(found)["podinfod"]
    assert "ImageRepository is invalid" in site.error
    assert any(i.message == "spec.image: missing" for i in found.errors)


def test_tag_and_digest_markers_form_one_site(scan):
    digest = "sha256:" + "c" * 64
    values = (
        "image:\n"
        "  repository: ghcr.io/stefanprodan/podinfo"
        ' # {"$imagepolicy": "flux-system:podinfo:name"}\n'
        '  tag: 5.0.0 # {"$imagepolicy": "flux-system:podinfo:tag"}\n'
        f'  digest: {digest} # {{"$imagepolicy": "flux-system:podinfo:digest"}}\n'
    )
    site = only(scan({"policy.yaml": FLUX_POLICY, "settings.yaml": values}))
    assert [p.role for p in site.parts] == ["name", "tag", "digest"]
    assert (site.tag, site.digest, site.error) == ("5.0.0", digest, None)


def test_files_named_kustomization_are_read_by_default(scan):
    kustomization = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
- name: podinfo
  newName: ghcr.io/stefanprodan/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}
  newTag: 5.0.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
"""
    found = scan({"policy.yaml": FLUX_POLICY, "apps/Kustomization": kustomization})
    site = only(found)
    assert (site.file, site.container, site.error) == ("apps/Kustomization", "podinfo", None)


def test_a_flux_policy_site_holds_only_the_values_its_markers_name(scan):
    kustomization = """\
images:
- name: podinfo
  newName: ghcr.io/stefanprodan/podinfo
  newTag: 5.0.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
"""
    site = only(scan({"policy.yaml": FLUX_POLICY, "kustomization.yaml": kustomization}))
    assert [p.role for p in site.parts] == ["tag"]
    assert site.policy_image == "ghcr.io/stefanprodan/podinfo"


def test_flux_policies_have_no_family_rule_and_read_digest_reflection(scan):
    policy = FLUX_POLICY + "  digestReflectionPolicy: Always\n"
    site = by_container(scan({"policy.yaml": policy, "app.yaml": WORKLOAD}))["podinfod"]
    assert (site.same_family, site.digest_reflection) == (False, "Always")


def test_an_unknown_digest_reflection_policy_is_an_error(scan):
    policy = FLUX_POLICY + "  digestReflectionPolicy: Sometimes\n"
    found = scan({"policy.yaml": policy, "app.yaml": WORKLOAD})
    assert any("digestReflectionPolicy" in i.message for i in found.errors)
    assert "is invalid" in by_container(found)["podinfod"].error


def test_a_cached_marker_file_follows_its_flux_policy_going_away(tmp_path):
    files = {"policy.yaml": FLUX_POLICY, "app.yaml": WORKLOAD}
    write_tree(tmp_path, files)
    blobs = {name: blob_id(text.encode()) for name, text in files.items()}
    cache = DiscoveryCache()
    first = by_container(discover(tmp_path, blobs=blobs, cache=cache))["podinfod"]
    (tmp_path / "policy.yaml").unlink()

    found = discover(tmp_path, blobs={"app.yaml": blobs["app.yaml"]}, cache=cache)

    site = by_container(found)["podinfod"]
    assert first.policy_image == "ghcr.io/stefanprodan/podinfo"
    assert cache.files_parsed == 0  # app.yaml came from the cache
    assert (site.policy_image, site.error) == (None, None)
    assert "not defined" in site.warning
