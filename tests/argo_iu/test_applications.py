"""Reading Argo CD Image Updater's configuration where its users keep it: annotations on
Applications and ImageUpdater objects in the repository, and the images their sources
deploy."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from imagebot.manifests import ImageSite, discover

URL = "https://git.example.com/platform/gitops.git"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: registry.example.com/team/web:1.0.0
        - name: sidecar
          image: registry.example.com/team/proxy:2.1.0
"""


def application(name: str, annotations: dict[str, str], source: str) -> str:
    notes = "".join(
        f"    argocd-image-updater.argoproj.io/{k}: {json.dumps(v)}\n"
        for k, v in annotations.items()
    )
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n"
        f"  name: {name}\n  namespace: argocd\n  annotations:\n{notes}"
        f"spec:\n  project: default\n  source:\n{textwrap.indent(source, '    ')}"
    )


def kustomize_source(path: str = "web", url: str = URL) -> str:
    return f"repoURL: {url}\npath: {path}\ntargetRevision: main\n"


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def app_sites(root: Path, **options: object) -> list[ImageSite]:
    found = discover(root, repo_urls=[URL], **options)  # type: ignore[arg-type]
    return [s for s in found.sites if s.kind == "Application"]


def kustomize_app(tmp_path: Path, annotations: dict[str, str], **extra: str) -> list[ImageSite]:
    files = {
        "apps/web.yaml": application("web", annotations, kustomize_source()),
        "web/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        "web/deployment.yaml": DEPLOYMENT,
        **extra,
    }
    return app_sites(tree(tmp_path, files))


def test_each_listed_image_is_followed_under_its_alias_and_constraint(tmp_path: Path):
    (web,) = kustomize_app(tmp_path, {"image-list": "web=registry.example.com/team/web:~1.0"})

    assert (web.container, web.reference_text, web.policy) == (
        "web",
        "registry.example.com/team/web:1.0.0",
        "semver:~1.0",
    )
    assert web.updatable
    assert web.file == "web/.argocd-source-web.yaml"
    assert web.writeback is not None
    assert web.writeback.kind == "source-kustomize"


def test_an_application_wide_strategy_applies_unless_the_alias_sets_its_own(tmp_path: Path):
    sites = kustomize_app(
        tmp_path,
        {
            "image-list": "web=registry.example.com/team/web,"
            " proxy=registry.example.com/team/proxy",
            "update-strategy": "newest-build",
            "proxy.update-strategy": "name",
        },
    )

    assert {s.container: s.policy for s in sites} == {
        "web": "newest-build",
        "proxy": "alphabetical:asc",
    }


def test_an_alias_with_a_slash_is_written_with_an_underscore_in_keys(tmp_path: Path):
    (site,) = kustomize_app(
        tmp_path,
        {
            "image-list": "team/web=registry.example.com/team/web",
            "team_web.update-strategy": "latest",
        },
    )

    assert site.policy == "newest-build"


def test_allow_and_ignore_tags_become_one_filter(tmp_path: Path):
    (site,) = kustomize_app(
        tmp_path,
        {
            "image-list": "web=registry.example.com/team/web",
            "web.allow-tags": "regexp:^1\\.",
            "web.ignore-tags": "*-rc*, 1.9.9",
        },
    )

    assert site.filter is not None
    matcher = re.compile(site.filter)
    assert [t for t in ("1.2.0", "1.3.0-rc1", "1.9.9", "2.0.0") if matcher.search(t)] == ["1.2.0"]


def test_the_digest_strategy_follows_the_listed_tag_by_digest(tmp_path: Path):
    (site,) = kustomize_app(
        tmp_path,
        {"image-list": "web=registry.example.com/team/web:stable", "web.update-strategy": "digest"},
    )

    assert (site.policy, site.digest_reflection) == ("glob:stable", "Always")


def test_platforms_are_carried_for_the_gate_that_checks_them(tmp_path: Path):
    (site,) = kustomize_app(
        tmp_path,
        {
            "image-list": "web=registry.example.com/team/web",
            "web.platforms": "linux/amd64, linux/arm64",
        },
    )

    assert site.platforms == ("linux/amd64", "linux/arm64")


def test_an_unknown_strategy_is_an_error_naming_the_application(tmp_path: Path):
    (site,) = kustomize_app(
        tmp_path,
        {"image-list": "web=registry.example.com/team/web", "web.update-strategy": "newest"},
    )

    assert site.error is not None
    assert "application web (apps/web.yaml:1)" in site.error
    assert "'newest'" in site.error


def test_git_credentials_in_the_write_back_method_are_read_but_not_used(tmp_path: Path):
    (site,) = kustomize_app(
        tmp_path,
        {
            "image-list": "web=registry.example.com/team/web",
            "write-back-method": "git:secret:argocd/git-creds",
        },
    )

    assert site.error is None
    assert site.updatable


def test_an_application_whose_source_is_elsewhere_is_reported_by_name_and_url(tmp_path: Path):
    other = "https://github.com/argoproj/argocd-example-apps.git"
    files = {
        "apps/guestbook.yaml": application(
            "guestbook",
            {"image-list": "gb=gcr.io/heptio-images/ks-guestbook-demo"},
            kustomize_source("guestbook", url=other),
        )
    }

    (site,) = app_sites(tree(tmp_path, files))

    assert not site.updatable
    assert site.error is None
    assert site.warning == (
        f"application guestbook (apps/guestbook.yaml:1): its source is in another "
        f"repository ({other}); not updated here"
    )


def test_the_same_repository_is_recognised_whatever_the_url_spelling(tmp_path: Path):
    ssh = "git@git.example.com:platform/gitops"
    files = {
        "apps/web.yaml": application(
            "web", {"image-list": "registry.example.com/team/web"}, kustomize_source(url=ssh)
        ),
        "web/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        "web/deployment.yaml": DEPLOYMENT,
    }

    (site,) = app_sites(tree(tmp_path, files))

    assert site.updatable


def test_an_image_the_source_does_not_deploy_is_left_unless_forced(tmp_path: Path):
    listed = {"image-list": "db=registry.example.com/team/db"}
    (left,) = kustomize_app(tmp_path / "a", listed)
    (forced,) = kustomize_app(tmp_path / "b", {**listed, "db.force-update": "true"})

    assert left.warning is not None
    assert "is not deployed by its source web" in left.warning
    assert forced.updatable
    assert forced.tag is None


def test_the_current_version_includes_kustomize_images_and_the_override_file(tmp_path: Path):
    (site,) = kustomize_app(
        tmp_path,
        {"image-list": "web=registry.example.com/team/web"},
        **{
            "web/kustomization.yaml": "resources:\n  - deployment.yaml\nimages:\n"
            "  - name: registry.example.com/team/web\n    newTag: 1.1.0\n",
            "web/.argocd-source-web.yaml": "kustomize:\n  images:\n"
            "  - registry.example.com/team/web:1.2.0\n",
        },
    )

    assert site.tag == "1.2.0"


def test_write_back_to_a_kustomization_by_relative_path(tmp_path: Path):
    files = {
        "apps/web.yaml": application(
            "web",
            {
                "image-list": "web=registry.example.com/team/web",
                "write-back-method": "git",
                "write-back-target": "kustomization:../../base",
            },
            kustomize_source("overlays/prod"),
        ),
        "base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        "base/deployment.yaml": DEPLOYMENT,
        "overlays/prod/kustomization.yaml": "resources:\n  - ../../base\n",
    }

    (site,) = app_sites(tree(tmp_path, files))

    assert site.writeback is not None
    assert (site.writeback.kind, site.file, site.tag) == (
        "kustomization",
        "base/kustomization.yaml",
        "1.0.0",
    )


CHART = {
    "chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "chart/values.yaml": "image:\n  repository: registry.example.com/team/web\n  tag: 1.0.0\n",
    "chart/templates/deployment.yaml": "image: {{ .Values.image.repository }}\n",
}


def helm_app(tmp_path: Path, annotations: dict[str, str], helm: str = "") -> list[ImageSite]:
    source = f"repoURL: {URL}\npath: chart\ntargetRevision: main\n{helm}"
    files = {"apps/web.yaml": application("web", annotations, source), **CHART}
    return app_sites(tree(tmp_path, files))


def test_a_helm_image_is_found_by_its_parameters_in_the_chart_values(tmp_path: Path):
    (site,) = helm_app(
        tmp_path,
        {
            "image-list": "web=registry.example.com/team/web",
            "web.helm.image-name": "image.repository",
            "web.helm.image-tag": "image.tag",
        },
    )

    assert (site.tag, site.file) == ("1.0.0", "chart/.argocd-source-web.yaml")
    assert site.writeback is not None
    assert site.writeback.helm_tag == "image.tag"


def test_application_helm_parameters_win_over_chart_values(tmp_path: Path):
    helm = "helm:\n  parameters:\n    - name: image.tag\n      value: 1.1.0\n"

    (site,) = helm_app(tmp_path, {"image-list": "web=registry.example.com/team/web"}, helm)

    assert site.tag == "1.1.0"
    assert site.writeback is not None
    assert site.writeback.seed_parameters == (("image.tag", "1.1.0", False),)


def test_helm_values_write_back_needs_an_alias(tmp_path: Path):
    (site,) = helm_app(
        tmp_path,
        {
            "image-list": "registry.example.com/team/web",
            "write-back-target": "helmvalues:/chart/values.yaml",
        },
    )

    assert site.error is not None
    assert "needs an alias" in site.error


def test_an_image_updater_selects_applications_and_layers_its_settings(tmp_path: Path):
    updater = """\
apiVersion: argocd-image-updater.argoproj.io/v1alpha1
kind: ImageUpdater
metadata:
  name: web-updater
  namespace: argocd
spec:
  namespace: argocd
  commonUpdateSettings:
    updateStrategy: semver
    platforms: [linux/amd64]
  writeBackConfig:
    method: git
    gitConfig:
      branch: main
      writeBackTarget: kustomization
  applicationRefs:
    - namePattern: "we*"
      images:
        - alias: web
          imageName: registry.example.com/team/web:1.x
          commonUpdateSettings:
            ignoreTags: ["*-rc*"]
"""
    files = {
        "apps/web.yaml": application("web", {}, kustomize_source()).replace("  annotations:\n", ""),
        "apps/updater.yaml": updater,
        "web/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        "web/deployment.yaml": DEPLOYMENT,
    }

    (site,) = app_sites(tree(tmp_path, files))

    assert (site.policy, site.platforms, site.file) == (
        "semver:1.x",
        ("linux/amd64",),
        "web/kustomization.yaml",
    )
    assert site.filter is not None
    assert "updater.yaml" in site.source


def test_an_application_name_that_is_no_kubernetes_name_writes_nothing(tmp_path: Path):
    files = {
        "apps/web.yaml": application(
            "../../etc/web", {"image-list": "registry.example.com/team/web"}, kustomize_source()
        ),
        "web/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        "web/deployment.yaml": DEPLOYMENT,
    }

    (site,) = app_sites(tree(tmp_path, files))

    assert site.writeback is None
    assert site.error is not None
    assert "is not a valid Application name" in site.error


def test_a_source_path_out_of_the_repository_is_not_read(tmp_path: Path):
    (site,) = kustomize_app(
        tmp_path / "repo",
        {"image-list": "registry.example.com/team/web"},
        **{
            "apps/web.yaml": application(
                "web", {"image-list": "registry.example.com/team/web"}, kustomize_source("../..")
            )
        },
    )

    assert not site.updatable
    assert site.warning is not None
    assert "is not a directory of this repository" in site.warning


def test_a_write_back_target_out_of_the_repository_is_an_error(tmp_path: Path):
    (site,) = helm_app(
        tmp_path,
        {
            "image-list": "web=registry.example.com/team/web",
            "write-back-target": "helmvalues:/../outside.yaml",
        },
    )

    assert site.error is not None
    assert "outside the repository" in site.error


def test_a_manual_change_of_an_application_image_is_refused_with_where_it_is_configured(
    tmp_path: Path,
):
    from imagebot.errors import InvalidInput
    from imagebot.operations.workloads import WorkloadId, find_target

    kustomize_app(tmp_path, {"image-list": "web=registry.example.com/team/web"})
    found = discover(tmp_path, repo_urls=[URL])

    with pytest.raises(InvalidInput, match=r"apps/web\.yaml:1 \(Application web annotations\)"):
        find_target(found, tmp_path, WorkloadId.parse("argocd:application/web"), file=None)


def test_a_multi_source_application_is_read_from_its_source_with_a_path(tmp_path: Path):
    sources = (
        "sources:\n"
        "  - repoURL: registry-1.docker.io/bitnamicharts\n    chart: redis\n"
        f"  - repoURL: {URL}\n    path: web\n    targetRevision: main\n"
    )
    app = application("web", {"image-list": "web=registry.example.com/team/web"}, "")
    files = {
        "apps/web.yaml": app.replace("  source:\n", textwrap.indent(sources, "  ")),
        "web/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        "web/deployment.yaml": DEPLOYMENT,
    }

    (site,) = app_sites(tree(tmp_path, files))

    assert site.updatable
    assert site.file == "web/.argocd-source-web.yaml"


def test_an_image_updater_with_use_annotations_reads_the_applications_annotations(
    tmp_path: Path,
):
    updater = """\
apiVersion: argocd-image-updater.argoproj.io/v1alpha1
kind: ImageUpdater
metadata:
  name: legacy
  namespace: argocd
spec:
  applicationRefs:
    - namePattern: "*"
      useAnnotations: true
"""
    (site,) = kustomize_app(
        tmp_path,
        {"image-list": "web=registry.example.com/team/web:~1.0"},
        **{"apps/updater.yaml": updater},
    )

    assert site.policy == "semver:~1.0"
    assert "annotations" in site.source


def test_a_repository_with_applications_is_discovered_afresh_by_a_cache_of_unchanged_files(
    tmp_path: Path,
):
    """An application's sites depend on files outside the walked set (its source's
    ``.argocd-source-*`` file): discovery's last answer is not reused for it."""
    from imagebot.manifests.discovery import DiscoveryCache, blob_id

    root = tree(
        tmp_path,
        {
            "apps/web.yaml": application(
                "web", {"image-list": "web=registry.example.com/team/web:~1.0"}, kustomize_source()
            ),
            "web/kustomization.yaml": "resources:\n  - deployment.yaml\n",
            "web/deployment.yaml": DEPLOYMENT,
        },
    )
    blobs = {p.relative_to(root).as_posix(): blob_id(p.read_bytes()) for p in root.rglob("*.yaml")}
    cache = DiscoveryCache()
    discover(root, repo_urls=[URL], blobs=blobs, cache=cache)

    again = discover(root, repo_urls=[URL], blobs=blobs, cache=cache)

    assert not cache.reused
    assert cache.files_parsed == 0  # each file still came from the cache
    assert again.to_dict() == discover(root, repo_urls=[URL]).to_dict()
