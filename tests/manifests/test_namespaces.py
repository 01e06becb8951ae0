"""Workload names as fluxctl users know them: a namespaced workload without
``metadata.namespace`` is named by the namespace it lands in (a kustomization's that includes
its file, else the repository's ``default_namespace``, else ``default``); ``<cluster>`` is left
for what lands in no namespace. The names imagebot printed before still find it."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.manifests import discover, scan_bytes
from imagebot.manifests.namespaces import landing_namespace
from imagebot.operations.workloads import select_workload
from imagebot.update.changes import change_line
from imagebot.update.resolve import Resolution
from tests.cli.ux_support import write_tree

CARTS = b"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: carts
spec:
  template:
    spec:
      containers:
      - name: carts
        image: weaveworksdemos/carts:0.4.8
"""


def kustomization(namespace: str | None, *resources: str) -> str:
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization"]
    if namespace:
        lines.append(f"namespace: {namespace}")
    lines.append("resources:")
    lines += [f"  - {resource}" for resource in resources]
    return "\n".join(lines) + "\n"


def workloads(root: Path, **kwargs: str) -> dict[str, str]:
    return {site.file: site.workload for site in discover(root, **kwargs).sites}


def test_a_deployment_without_namespace_lands_in_default():
    (site,) = scan_bytes(CARTS, "carts.yaml").sites

    assert site.workload == "default:deployment/carts"
    assert site.namespace is None  # as written: nothing is invented in the manifest's data


def test_metadata_namespace_is_the_name():
    content = CARTS.replace(b"  name: carts\n", b"  name: carts\n  namespace: sock-shop\n")
    (site,) = scan_bytes(content, "carts.yaml").sites

    assert site.workload == "sock-shop:deployment/carts"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("Deployment", "default"),
        ("HelmRelease", "default"),
        ("ClusterRole", "<cluster>"),
        ("Namespace", "<cluster>"),
        ("ComposeService", "<cluster>"),
        ("HelmValues", "<cluster>"),
    ],
)
def test_only_what_lands_in_no_namespace_is_cluster(kind: str, expected: str):
    assert landing_namespace(kind, None) == expected


def test_a_kustomization_namespace_covers_the_files_it_lists(tmp_path: Path):
    root = write_tree(
        tmp_path,
        {
            "shop/kustomization.yaml": kustomization("sock-shop", "carts.yaml"),
            "shop/carts.yaml": CARTS,
            "other/carts.yaml": CARTS,
        },
    )

    assert workloads(root) == {
        "shop/carts.yaml": "sock-shop:deployment/carts",
        "other/carts.yaml": "default:deployment/carts",
    }


def test_an_overlay_namespace_covers_its_base(tmp_path: Path):
    root = write_tree(
        tmp_path,
        {
            "base/kustomization.yaml": kustomization(None, "carts.yaml"),
            "base/carts.yaml": CARTS,
            "overlays/prod/kustomization.yaml": kustomization("prod", "../../base"),
        },
    )

    assert workloads(root) == {"base/carts.yaml": "prod:deployment/carts"}


def test_the_outermost_kustomization_namespace_wins(tmp_path: Path):
    root = write_tree(
        tmp_path,
        {
            "base/kustomization.yaml": kustomization("base-ns", "carts.yaml"),
            "base/carts.yaml": CARTS,
            "prod/kustomization.yaml": kustomization("prod", "../base"),
        },
    )

    assert workloads(root) == {"base/carts.yaml": "prod:deployment/carts"}


def test_a_file_two_overlays_put_in_different_namespaces_gets_the_default(tmp_path: Path):
    root = write_tree(
        tmp_path,
        {
            "base/kustomization.yaml": kustomization(None, "carts.yaml"),
            "base/carts.yaml": CARTS,
            "prod/kustomization.yaml": kustomization("prod", "../base"),
            "staging/kustomization.yaml": kustomization("staging", "../base"),
        },
    )

    assert workloads(root, default_namespace="team") == {"base/carts.yaml": "team:deployment/carts"}


def test_the_repository_default_namespace_names_uncovered_workloads(tmp_path: Path):
    root = write_tree(
        tmp_path,
        {
            "shop/kustomization.yaml": kustomization("sock-shop", "carts.yaml"),
            "shop/carts.yaml": CARTS,
            "loose/carts.yaml": CARTS,
        },
    )

    assert workloads(root, default_namespace="team") == {
        "shop/carts.yaml": "sock-shop:deployment/carts",
        "loose/carts.yaml": "team:deployment/carts",
    }


def test_a_kustomization_cycle_is_not_followed_forever(tmp_path: Path):
    root = write_tree(
        tmp_path,
        {
            "a/kustomization.yaml": kustomization("a", "../b", "carts.yaml"),
            "b/kustomization.yaml": kustomization("b", "../a"),
            "a/carts.yaml": CARTS,
        },
    )

    assert workloads(root) == {"a/carts.yaml": "default:deployment/carts"}


def test_commit_lines_name_the_namespace_it_lands_in():
    (site,) = scan_bytes(CARTS, "carts.yaml").sites

    line = change_line(Resolution(site, "update", "newer", new_tag="0.4.10"))

    assert line == "carts.yaml: Deployment/default/carts carts 0.4.8 -> 0.4.10"


@pytest.mark.parametrize(
    "name",
    [
        "prod:deployment/carts",
        "<cluster>:deployment/carts",  # as imagebot printed it before
        "default:deployment/carts",  # as Flux v1 read a manifest without namespace
        "deployment/carts",
        "carts",
    ],
)
def test_every_name_it_had_still_finds_it(tmp_path: Path, name: str):
    root = write_tree(
        tmp_path,
        {"base/carts.yaml": CARTS, "kustomization.yaml": kustomization("prod", "base/carts.yaml")},
    )
    sites = discover(root).sites

    assert [site.workload for site in select_workload(sites, name)] == ["prod:deployment/carts"]


def test_another_namespace_does_not_find_it(tmp_path: Path):
    from imagebot.errors import InvalidInput

    sites = discover(write_tree(tmp_path, {"carts.yaml": CARTS})).sites

    with pytest.raises(InvalidInput):
        select_workload(sites, "staging:deployment/carts")


def test_list_images_names_workloads_with_the_configured_default_namespace(tmp_path: Path):
    import json

    from tests.cli.ux_support import invoke

    root = write_tree(tmp_path / "fleet", {"carts.yaml": CARTS})
    config = tmp_path / "imagebot.yaml"
    config.write_text(
        json.dumps({"repositories": [{"path": str(root), "default_namespace": "sock-shop"}]})
    )

    result = invoke("list-images", "--config", str(config), "-o", "json", state=tmp_path / "s")

    assert result.exit_code == 0, result.stderr
    assert [row["workload"] for row in json.loads(result.stdout)] == ["sock-shop:deployment/carts"]


COMPOSE = b"services:\n  carts:\n    image: weaveworksdemos/carts:0.4.8\n"


def test_history_finds_entries_recorded_under_either_name(tmp_path: Path):
    from imagebot.config import Config
    from imagebot.store import Store, store_path
    from imagebot.update import history

    (deployment,) = scan_bytes(CARTS, "carts.yaml").sites
    (compose,) = scan_bytes(COMPOSE, "compose.yaml").sites
    with Store.open(store_path(Config(state_dir=str(tmp_path)))) as store:
        for site in (deployment, compose):
            history.record(
                store,
                [Resolution(site, "update", "newer", new_tag="0.4.10")],
                repository="fleet",
                url="file:///fleet.git",
                branch="main",
                target="main",
                mode="direct",
                commit="c" * 40,
                pushed=True,
                when=1_700_000_000.0,
            )

        def found(name: str) -> list[str]:
            return [e.workload for e in history.entries(store, workload=name)]

        assert found("default:deployment/carts") == ["default:deployment/carts"]
        # a name printed before (namespace-less workloads were all <cluster>:) finds it
        assert found("<cluster>:deployment/carts") == ["default:deployment/carts"]
        # an entry recorded as <cluster>: is found by the name it has now
        assert found("default:composeservice/carts") == ["<cluster>:composeservice/carts"]
        assert found("deployment/carts") == ["default:deployment/carts"]
        assert found("staging:deployment/carts") == []
