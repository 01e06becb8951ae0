"""kustomize ``images:`` entries (kustomize files, Components, Flux Kustomizations)."""

from __future__ import annotations

from tests.manifests.helpers import by_container, only

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop
resources: [deploy.yaml]
images:
- name: nginx
  newTag: 1.25.3
- name: ghcr.io/org/api
  newName: registry.example.com/mirror/api
  newTag: v2.0.1
- name: redis
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
- name: renamed
  newName: quay.io/org/renamed
- name: nothing-changes
"""


def test_kustomization_images(scan):
    found = scan({"overlay/kustomization.yaml": KUSTOMIZATION})
    sites = by_container(found)
    assert {k: v.reference_text for k, v in sites.items()} == {
        "nginx": "nginx:1.25.3",
        "ghcr.io/org/api": "registry.example.com/mirror/api:v2.0.1",
        "redis": "redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "renamed": "quay.io/org/renamed",
    }
    nginx = sites["nginx"]
    assert (nginx.kind, nginx.namespace, nginx.name) == ("Kustomization", "shop", "overlay")
    assert [p.role for p in nginx.parts] == ["tag"]
    assert nginx.fixed_name == "nginx"
    assert [p.role for p in sites["ghcr.io/org/api"].parts] == ["name", "tag"]
    assert sites["renamed"].tag is None


def test_kustomization_file_without_kind(scan):
    text = "images:\n- name: nginx\n  newTag: '1.30'\n"
    assert only(scan({"kustomization.yml": text})).tag == "1.30"


def test_unquoted_new_tag_is_the_tag_as_written(scan):
    text = "images:\n- name: nginx\n  newTag: 1.30\n"
    site = only(scan({"Kustomization": text}, include=["**/Kustomization"]))
    assert site.tag == "1.30"
    assert site.reference_text == "nginx:1.30"


def test_images_key_in_other_files_is_not_read(scan):
    text = "images:\n- name: nginx\n  newTag: 1.25.3\n"
    assert scan({"values.yaml": text}).sites == []


def test_kustomize_component(scan):
    text = (
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
        "images:\n- name: app\n  newTag: v3\n"
    )
    site = only(scan({"components/tag/kustomization.yaml": text}))
    assert (site.kind, site.name) == ("Component", "components/tag")


def test_flux_kustomization_spec_images(scan):
    text = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  path: ./apps
  images:
  - name: podinfo
    newName: ghcr.io/stefanprodan/podinfo
    newTag: 6.5.0
"""
    site = only(scan({"clusters/apps.yaml": text}))
    assert (site.kind, site.namespace, site.name, site.container) == (
        "Kustomization",
        "flux-system",
        "apps",
        "podinfo",
    )
    assert site.reference_text == "ghcr.io/stefanprodan/podinfo:6.5.0"
    assert site.part("tag").path == ("spec", "images", 0, "newTag")


def test_placeholder_name_is_an_error_on_the_row(scan):
    text = "images:\n- name: app\n  newName: REGISTRY_PLACEHOLDER/app\n"
    site = only(scan({"kustomization.yaml": text}))
    assert site.image is None
    assert "bad registry host" in site.error
