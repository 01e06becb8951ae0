"""``imagebot release``: a manual deploy, byte-exact, committed, recorded in the history, and
checked against a real registry."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.workload_support import changed_files, invoke, isolate, message, original, seed_fleet
from tests.gitops.helpers import Remote, make_remote
from tests.harness import RegistryServer, free_port

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


@pytest.fixture
def fleet(tmp_path: Path) -> Remote:
    return seed_fleet(tmp_path)


def history() -> list[dict]:
    result = invoke("history", "--output", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_release_changes_the_tag_commits_and_records_history(fleet: Remote):
    result = invoke(
        "release", "demo:helmrelease/mongodb", "--tag", "4.0.14", "--no-check-tag",
        "--repo", fleet.url,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert fleet.read("releases/mongodb.yaml") == original("releases/mongodb.yaml").replace(
        b"      tag: 4.0.13\n", b"      tag: 4.0.14\n"
    )
    assert changed_files(fleet) == ["releases/mongodb.yaml"]
    assert message(fleet).splitlines()[0] == (
        "Release bitnami/mongodb:4.0.14 to demo:helmrelease/mongodb"
    )
    (entry,) = history()
    assert {k: entry[k] for k in ("workload", "container", "old_tag", "new_tag", "mode")} == {
        "workload": "demo:helmrelease/mongodb",
        "container": "chart-image",
        "old_tag": "4.0.13",
        "new_tag": "4.0.14",
        "mode": "release",
    }
    assert (entry["commit"], entry["pushed"], entry["target"]) == (fleet.tip(), True, "main")


def test_a_locked_workload_is_refused_unless_forced(fleet: Remote):
    tip = fleet.tip()
    refused = invoke(
        "release", "demo:helmrelease/redis", "-t", "5.0.8", "--no-check-tag", "--repo", fleet.url
    )

    assert refused.exit_code == 1
    assert "is locked by Stefan Prodan <stefan@weave.works>: Halt updates for now" in (
        refused.stderr
    )
    assert "--force" in refused.stderr
    assert fleet.tip() == tip
    assert history() == []

    forced = invoke(
        "release", "demo:helmrelease/redis", "-t", "5.0.8", "--no-check-tag", "--force",
        "--repo", fleet.url,
    )  # fmt: skip

    assert forced.exit_code == 0, forced.output
    assert fleet.read("releases/redis.yaml") == original("releases/redis.yaml").replace(
        b"      tag: 5.0.7\n", b"      tag: 5.0.8\n"
    )
    assert "released with --force although it is locked" in forced.stdout


def test_a_container_of_a_workload_is_released_alone(fleet: Remote):
    result = invoke(
        "release", "demo:deployment/podinfo", "-c", "podinfod", "-t", "3.1.2", "--no-check-tag",
        "--dry-run", "--repo", fleet.url,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "-        image: stefanprodan/podinfo:3.1.0\n" in result.stdout
    assert "+        image: stefanprodan/podinfo:3.1.2\n" in result.stdout
    assert "the next cycle may move podinfod again" in result.stdout


def test_releasing_the_current_tag_changes_nothing(fleet: Remote):
    tip = fleet.tip()
    result = invoke(
        "release", "demo:helmrelease/ghost", "-t", "3.1.1-debian-9-r0", "--no-check-tag",
        "--repo", fleet.url,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "already runs 3.1.1-debian-9-r0" in result.stdout
    assert fleet.tip() == tip


def test_an_invalid_tag_is_a_usage_error(fleet: Remote):
    result = invoke("release", "demo:helmrelease/ghost", "-t", "-bad", "--repo", fleet.url)
    assert result.exit_code == 2


# --- asking the registry ----------------------------------------------------------------------


def app(image: str) -> bytes:
    return textwrap.dedent(
        f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: app
          namespace: team
        spec:
          template:
            spec:
              containers:
                - name: app
                  image: {image}  # pinned
        """
    ).encode()


def remote_with(tmp_path: Path, image: str) -> Remote:
    where = tmp_path / "apps"
    where.mkdir()
    return make_remote(where, {"app.yaml": app(image)})


def test_a_tag_the_registry_does_not_have_is_refused(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(repo_name, ["1.0"], created=T0)
    remote = remote_with(tmp_path, f"{registry.host}/{repo_name}:1.0")
    tip = remote.tip()

    result = invoke("release", "team:deployment/app", "-t", "1.1", "--repo", remote.url)

    assert result.exit_code == 1
    assert f"{registry.host}/{repo_name}:1.1 does not exist in the registry" in result.stderr
    assert "--no-check-tag" in result.stderr
    assert remote.tip() == tip


def test_a_digest_pinned_reference_gets_the_new_tags_digest(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    old = registry.push(repo_name, ["1.0"], created=T0)
    new = registry.push(repo_name, ["1.1"], created=T0 + timedelta(days=1))
    reference = f"{registry.host}/{repo_name}"
    remote = remote_with(tmp_path, f"{reference}:1.0@{old.digest}")

    result = invoke("release", "team:deployment/app", "-t", "1.1", "--repo", remote.url)

    assert result.exit_code == 0, result.output
    assert remote.read("app.yaml") == app(f"{reference}:1.1@{new.digest}")
    (entry,) = history()
    assert (entry["old_digest"], entry["new_digest"]) == (old.digest, new.digest)


def test_a_digest_that_disagrees_with_the_registry_is_refused(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    old = registry.push(repo_name, ["1.0"], created=T0)
    registry.push(repo_name, ["1.1"], created=T0 + timedelta(days=1))
    remote = remote_with(tmp_path, f"{registry.host}/{repo_name}:1.0@{old.digest}")

    result = invoke(
        "release", "team:deployment/app", "-t", "1.1", "--digest", old.digest, "--repo", remote.url
    )

    assert result.exit_code == 1
    assert "the registry says" in result.stderr


def test_an_unreachable_registry_is_a_note_not_a_failure(tmp_path: Path):
    host = f"127.0.0.1:{free_port()}"
    config = tmp_path / "imagebot.yaml"
    config.write_text(f'registries:\n  "{host}":\n    retries: 0\n')
    remote = remote_with(tmp_path, f"{host}/team/app:1.0")

    result = invoke(
        "release", "team:deployment/app", "-t", "1.1", "--config", str(config),
        "--repo", remote.url,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert f"could not ask the registry whether {host}/team/app:1.1 exists" in result.stdout
    assert remote.read("app.yaml") == app(f"{host}/team/app:1.1")


def test_a_pinned_reference_without_a_digest_to_write_is_refused(tmp_path: Path):
    digest = "sha256:" + "a" * 64
    remote = remote_with(tmp_path, f"registry.example/team/app:1.0@{digest}")

    result = invoke(
        "release", "team:deployment/app", "-t", "1.1", "--no-check-tag", "--repo", remote.url
    )

    assert result.exit_code == 1
    assert "pinned by digest" in result.stderr
    assert "--digest" in result.stderr

    given = "sha256:" + "b" * 64
    forced = invoke(
        "release", "team:deployment/app", "-t", "1.1", "--no-check-tag", "--digest", given,
        "--repo", remote.url,
    )  # fmt: skip
    assert forced.exit_code == 0, forced.output
    assert remote.read("app.yaml") == app(f"registry.example/team/app:1.1@{given}")


def test_a_kustomize_image_without_metadata_can_be_released_but_not_locked(tmp_path: Path):
    kustomization = (
        b"resources:\n- ../../base\nnamespace: shop\nimages:\n"
        b"- name: web\n  newName: registry.example/web\n  newTag: 1.0.0  # pinned\n"
    )
    where = tmp_path / "kustomized"
    where.mkdir()
    remote = make_remote(where, {"overlays/prod/kustomization.yaml": kustomization})

    released = invoke(
        "release", "shop:kustomization/overlays/prod", "-t", "1.1.0", "--no-check-tag",
        "--repo", remote.url,
    )  # fmt: skip

    assert released.exit_code == 0, released.output
    assert remote.read("overlays/prod/kustomization.yaml") == kustomization.replace(
        b"newTag: 1.0.0", b"newTag: 1.1.0"
    )

    locked = invoke("lock", "kustomization/overlays/prod", "--repo", remote.url)
    assert locked.exit_code == 1
    assert "has no metadata to write annotations in" in locked.stderr
