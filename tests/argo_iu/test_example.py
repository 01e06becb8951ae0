"""``examples/argocd-image-updater``, a repository laid out as Argo CD Image Updater's users
lay theirs out (an app of apps; kustomize overlays and a Helm chart; annotations and an
ImageUpdater), run by ``imagebot scan`` unchanged: the files it writes are the ones the tool
would write (``expected/example/``), and nothing else changes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.argo_iu.support import CREATED, assert_wrote_exactly, remote_from, scan, tree_files
from tests.argo_iu.test_e2e_suites import GUESTBOOK_0_2
from tests.gitops.helpers import Remote
from tests.harness import RegistryServer, start_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "argocd-image-updater"
EXPECTED = Path(__file__).parent / "expected" / "example"
HOSTS = ["ghcr.io", "gcr.io"]


@pytest.fixture
def example_registry(tmp_path: Path) -> Iterator[RegistryServer]:
    with start_registry(tmp_path / "registry", auth="none") as server:
        for day, tag in enumerate(("6.5.0", "6.5.1", "6.5.4", "6.6.0-rc.1", "6.6.0", "6.6.1")):
            # podinfo-prod asks for linux/amd64 and linux/arm64 (its `platforms` annotation)
            server.push(
                "stefanprodan/podinfo",
                [tag],
                created=CREATED + timedelta(days=day),
                platforms=["linux/amd64", "linux/arm64"],
            )
        for day, tag in enumerate(("0.1", "0.2", "0.3")):
            pushed = server.push(
                "heptio-images/ks-guestbook-demo", [tag], created=CREATED + timedelta(days=day)
            )
            if tag == "0.2":
                assert pushed.digest == GUESTBOOK_0_2, "the pushed image changed"
        yield server


@pytest.fixture
def example(tmp_path: Path) -> Remote:
    return remote_from(tmp_path, tree_files(EXAMPLE))


@pytest.mark.slow
def test_the_example_ends_with_the_files_argo_cd_image_updater_writes(
    tmp_path: Path, example_registry: RegistryServer, example: Remote
):
    before = example.tip()

    result = scan(tmp_path, example_registry, HOSTS, "--repo", example.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert_wrote_exactly(example, before, EXPECTED)
    assert example.count() == 2


@pytest.mark.slow
def test_an_application_from_another_repository_is_named_in_a_note(
    tmp_path: Path, example_registry: RegistryServer, example: Remote
):
    result = scan(tmp_path, example_registry, HOSTS, "--repo", example.url, "--dry-run")

    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "application guestbook-upstream (apps/guestbook-upstream.yaml:2): its source is in "
        "another repository (https://github.com/argoproj/argocd-example-apps.git); not updated "
        "here"
    ) in " ".join(result.stdout.split())


@pytest.mark.slow
def test_a_second_scan_finds_nothing_to_change(
    tmp_path: Path, example_registry: RegistryServer, example: Remote
):
    first = scan(tmp_path, example_registry, HOSTS, "--repo", example.url)
    assert first.returncode == 0, first.stdout + first.stderr
    tip = example.tip()

    second = scan(tmp_path, example_registry, HOSTS, "--repo", example.url)

    assert second.returncode == 0, second.stdout + second.stderr
    assert example.tip() == tip


@pytest.mark.slow
def test_a_target_that_cannot_be_edited_fails_alone(
    tmp_path: Path, example_registry: RegistryServer
):
    files = tree_files(EXAMPLE)
    flow = b"kustomize: {images: [other/image:1.0]}\n"
    files["podinfo/overlays/dev/.argocd-source-podinfo-dev.yaml"] = flow
    remote = remote_from(tmp_path, files)

    result = scan(tmp_path, example_registry, HOSTS, "--repo", remote.url)

    assert result.returncode == 1
    assert "flow style" in result.stdout + result.stderr
    assert remote.read("podinfo/overlays/dev/.argocd-source-podinfo-dev.yaml") == flow
    prod = "podinfo/overlays/prod/kustomization.yaml"
    assert remote.read(prod) == (EXPECTED / prod).read_bytes()


@pytest.mark.slow
def test_an_applications_platforms_hold_a_tag_built_for_fewer(tmp_path: Path, example: Remote):
    with start_registry(tmp_path / "registry", auth="none") as server:
        server.push("stefanprodan/podinfo", ["6.5.0"], created=CREATED)
        server.push(
            "stefanprodan/podinfo", ["6.6.1"], created=CREATED + timedelta(days=1),
            platforms=["linux/amd64"],
        )  # fmt: skip
        for tag in ("0.1", "0.2", "0.3"):
            server.push("heptio-images/ks-guestbook-demo", [tag], created=CREATED)

        result = scan(tmp_path, server, HOSTS, "--repo", example.url, "--dry-run")

    prod = [line for line in result.stdout.splitlines() if "podinfo-prod" in line]
    assert prod, result.stdout
    assert "6.6.1 held: platforms: lacks linux/arm64" in prod[0]
