"""Argo CD Image Updater's ``git-branch`` (``writeBackConfig.gitConfig.branch``): the branch
imagebot reads and writes. ``branch`` is checked out and written; ``base:target`` writes a
branch *target* made from *base* (imagebot's branch mode); ``:target`` the same from the
branch read. One branch is written per repository: the first application's request is used
and a note names the others. imagebot's own config wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.config import RepositoryConfig
from imagebot.manifests.argocd import BranchRequest
from imagebot.update.fluxsettings import flux_settings
from tests.argo_iu.support import assert_wrote_exactly, remote_from, scan, tree_files
from tests.argo_iu.test_example import EXAMPLE, EXPECTED, HOSTS, example_registry  # noqa: F401
from tests.gitops.helpers import git
from tests.harness import RegistryServer
from tests.update.helpers import run_cli

TEMPLATE = "main:image-updater{{range .Images}}-{{.Name}}-{{.NewTag}}{{end}}"


def example_asking_for(branch: str, *, only: str | None = None) -> dict[str, bytes]:
    """The example repository with its applications' ``git-branch: main`` (and its
    ImageUpdater's ``branch: main``) replaced by *branch*; with *only*, in that file alone."""
    files = tree_files(EXAMPLE)
    for path, data in files.items():
        if path.startswith("apps/") and (only is None or path == only):
            data = data.replace(b"git-branch: main\n", f"git-branch: {branch!r}\n".encode())
            files[path] = data.replace(b"  branch: main\n", f"  branch: {branch!r}\n".encode())
    return files


def request(text: str, app: str = "web", origin: str = "apps/web.yaml:1") -> BranchRequest:
    base, colon, target = text.partition(":")
    return BranchRequest(app, origin, text, base or None, (target or None) if colon else None)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("asked", "written"),
    [
        ("main:image-updates", "image-updates"),  # base:target, a branch made from base
        (":image-updates", "image-updates"),  # :target, made from the branch read
        ("deploy", "deploy"),  # the branch checked out and written
    ],
)
def test_the_commit_lands_on_the_branch_git_branch_names(
    tmp_path: Path,
    example_registry: RegistryServer,  # noqa: F811
    asked: str,
    written: str,
):
    remote = remote_from(tmp_path, example_asking_for(asked))
    main = remote.tip()
    if written == asked:
        git(remote.path, "branch", written, "main")

    result = scan(tmp_path, example_registry, HOSTS, "--repo", remote.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert remote.tip() == main
    assert_wrote_exactly(remote, main, EXPECTED, written)


@pytest.mark.slow
def test_applications_asking_for_different_branches_use_the_first_and_name_the_others(
    tmp_path: Path,
    example_registry: RegistryServer,  # noqa: F811
):
    files = example_asking_for("main:image-updates", only="apps/podinfo-dev.yaml")
    remote = remote_from(tmp_path, files)
    before = remote.tip()

    result = scan(tmp_path, example_registry, HOSTS, "--repo", remote.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert remote.tip("image-updates") is None
    assert_wrote_exactly(remote, before, EXPECTED)
    said = " ".join(result.stdout.split())
    assert (
        "podinfo-dev (apps/podinfo-dev.yaml:3 (Application podinfo-dev annotations)) asking "
        "for 'main:image-updates' is not followed"
    ) in said, said


@pytest.mark.slow
def test_a_templated_target_is_written_to_imagebots_own_branch_and_said(
    tmp_path: Path,
    example_registry: RegistryServer,  # noqa: F811
):
    remote = remote_from(tmp_path, example_asking_for(TEMPLATE))
    main = remote.tip()

    result = scan(tmp_path, example_registry, HOSTS, "--repo", remote.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert remote.tip() == main
    assert_wrote_exactly(remote, main, EXPECTED, "imagebot/main")
    said = " ".join(result.stdout.split())
    assert "imagebot does not render a branch name templated over the changes" in said, said


def test_check_says_which_branch_an_application_asks_for(tmp_path: Path):
    root = tmp_path / "repo"
    for path, data in example_asking_for("main:image-updates").items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)

    result = run_cli("check", "--repo", str(root))

    assert "argocd: write mode: branch image-updates (from Argo CD application" in result.stdout


def test_imagebots_own_branch_and_write_mode_win():
    ours = RepositoryConfig(url="file:///r.git", branch="release", write_mode="pull-request")

    settings = flux_settings(ours, [], [request("main:image-updates")])

    assert settings.repo == ours
    assert [(d.setting, d.value, d.source) for d in settings.decisions] == [
        ("branch", "release", "imagebot config"),
        ("write mode", "pull-request (imagebot/{branch})", "imagebot config"),
    ]


def test_a_branch_alone_on_the_branch_read_changes_nothing():
    ours = RepositoryConfig(url="file:///r.git", branch="main")

    settings = flux_settings(ours, [], [request("main")])

    assert settings.repo == ours
    assert settings.notes == []


def test_the_same_request_from_several_applications_is_no_conflict():
    ours = RepositoryConfig(url="file:///r.git")
    asks = [request("main:auto", "a", "apps/a.yaml:1"), request("main:auto", "b", "apps/b.yaml:1")]

    settings = flux_settings(ours, [], asks)

    assert (settings.repo.branch, settings.repo.write_mode) == ("main", "branch")
    assert settings.repo.push_branch == "auto"
    assert settings.notes == []


def test_a_target_with_braces_is_pushed_under_that_exact_name():
    settings = flux_settings(RepositoryConfig(url="file:///r.git"), [], [request("main:a{b}")])

    assert settings.repo.push_branch.format(branch="main") == "a{b}"
