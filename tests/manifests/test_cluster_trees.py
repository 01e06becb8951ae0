"""One ImagePolicy name per cluster (multi-cluster Flux repositories): a marker takes the
policy of its own cluster tree, and only a tie is an error."""

from __future__ import annotations

from tests.manifests.helpers import only


def policy(range_: str, image: str = "ghcr.io/stefanprodan/podinfo") -> str:
    return f"""\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  image: {image}
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
      range: "{range_}"
"""


def flux_kustomization(name: str, path: str) -> str:
    return f"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: flux-system
spec:
  interval: 10m
  path: {path}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""


MARKED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: podinfo
spec:
  template:
    spec:
      containers:
      - name: podinfod
        image: ghcr.io/stefanprodan/podinfo:6.0.0 # {"$imagepolicy": "flux-system:podinfo"}
"""


def test_a_marker_takes_the_policy_in_its_nearest_folder(scan):
    found = scan(
        {
            "clusters/production/image-policy.yaml": policy("6.x"),
            "clusters/staging/image-policy.yaml": policy(">=6.0.0-0"),
            "clusters/production/apps/podinfo.yaml": MARKED,
            "clusters/staging/apps/podinfo.yaml": MARKED,
        }
    )
    policies = {s.file.split("/")[1]: (s.policy, s.error) for s in found.sites}
    assert policies == {
        "production": ("semver:6.x", None),
        "staging": ("semver:>=6.0.0-0", None),
    }
    assert found.errors == []


def test_a_marker_takes_the_policy_of_the_flux_kustomization_that_includes_it(scan):
    # flux2-kustomize-helm-example's layout: clusters/<name> holds the Flux objects, the
    # manifests live in apps/<name>, included by a Kustomization in clusters/<name>.
    found = scan(
        {
            "clusters/production/flux-system/gotk-sync.yaml": flux_kustomization(
                "flux-system", "./clusters/production"
            ),
            "clusters/production/apps.yaml": flux_kustomization("apps", "./apps/production"),
            "clusters/production/image-automation/policy.yaml": policy("6.x"),
            "clusters/staging/flux-system/gotk-sync.yaml": flux_kustomization(
                "flux-system", "./clusters/staging"
            ),
            "clusters/staging/apps.yaml": flux_kustomization("apps", "./apps/staging"),
            "clusters/staging/image-automation/policy.yaml": policy(">=6.0.0-0"),
            "apps/production/podinfo.yaml": MARKED,
            "apps/staging/podinfo.yaml": MARKED,
        }
    )
    policies = {s.file: (s.policy, s.error) for s in found.sites}
    assert policies == {
        "apps/production/podinfo.yaml": ("semver:6.x", None),
        "apps/staging/podinfo.yaml": ("semver:>=6.0.0-0", None),
    }


def test_each_cluster_policy_takes_its_own_clusters_image_repository(scan):
    found = scan(
        {
            "clusters/production/image-policy.yaml": policy("6.x", "ghcr.io/org/podinfo"),
            "clusters/staging/image-policy.yaml": policy("6.x", "ghcr.io/org/podinfo-dev"),
            "clusters/production/apps/podinfo.yaml": MARKED,
            "clusters/staging/apps/podinfo.yaml": MARKED,
        }
    )
    images = {s.file.split("/")[1]: (s.policy_image, s.error) for s in found.sites}
    assert images == {
        "production": ("ghcr.io/org/podinfo", None),
        "staging": ("ghcr.io/org/podinfo-dev", None),
    }


def test_a_marker_no_nearer_to_one_cluster_than_another_is_an_error_naming_both(scan):
    found = scan(
        {
            "clusters/production/image-policy.yaml": policy("6.x"),
            "clusters/staging/image-policy.yaml": policy(">=6.0.0-0"),
            "apps/base/podinfo.yaml": MARKED,
        }
    )
    site = only(found)
    assert "defined more than once" in site.error
    assert "clusters/production/image-policy.yaml:9" in site.error
    assert "clusters/staging/image-policy.yaml:9" in site.error
    assert "apps/base/podinfo.yaml" in site.error
    assert not site.updatable
    assert found.errors == []  # the policies themselves are fine


def test_the_same_name_twice_in_one_folder_is_still_an_error(scan):
    found = scan(
        {
            "clusters/production/a.yaml": policy("6.x"),
            "clusters/production/b.yaml": policy("7.x"),
            "clusters/production/apps/podinfo.yaml": MARKED,
        }
    )
    assert [i.message.split(" (")[0] for i in found.errors] == [
        "image policy flux-system:podinfo is defined more than once"
    ]
    assert "defined more than once" in only(found).error
