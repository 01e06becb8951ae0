"""Flux v2's own setter tests, run as a Flux user's repository: imagebot writes what Flux writes.

Each case copies a tree of Flux's image-automation-controller test data (tests/flux_setters,
see its SOURCES.md) into a Git repository, adds the Flux ``ImagePolicy`` objects the Go test
uses (committed under ``policies/``, since imagebot reads the repository, not the cluster),
publishes in the local registry the tags from which each policy picks exactly the image the Go
test gives it, runs ``imagebot scan`` and compares the tree with Flux's expected one: the same
values, every other byte as in the original.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.gitops.helpers import git
from tests.harness import RegistryServer
from tests.update.helpers import IMAGEBOT

pytestmark = pytest.mark.slow  # each case runs `imagebot scan` as a process (~3 s)

DATA = Path(__file__).resolve().parents[1] / "flux_setters" / "internal"
SETTERS = DATA / "update" / "testdata" / "setters"
APPLIER = DATA / "policy" / "testdata"
#: The digest Flux's Go test gives ``image:v1.0.0``; the registry's own digest replaces it.
FLUX_DIGEST = "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be"


def flux_policies(namespace: str, policies: dict[str, tuple[str, str]], **extra: str) -> str:
    """``ImageRepository`` + ``ImagePolicy`` (semver) per policy name: name -> (image, range);
    *extra* adds spec lines to the named policy (``digestReflectionPolicy``)."""
    docs = []
    for name, (image, semver) in policies.items():
        docs.append(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\n"
            f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
            f"spec:\n  image: {image}\n  interval: 1m\n"
        )
        docs.append(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\n"
            f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
            f"spec:\n  imageRepositoryRef:\n    name: {name}\n"
            f'  policy:\n    semver:\n      range: "{semver}"\n'
            + (f"  {extra[name]}\n" if name in extra else "")
        )
    return "---\n".join(docs)


def make_repository(root: Path, tree: Path, policies: str) -> Path:
    """*tree* copied to *root* with the policies, committed on main."""
    shutil.copytree(tree, root)
    (root / "policies").mkdir()
    (root / "policies" / "flux.yaml").write_text(policies)
    git(root.parent, "init", "-q", "-b", "main", str(root))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Flux's test tree")
    return root


def scan(tmp_path: Path, registry: RegistryServer, prefix: str, repo: str) -> str:
    """``imagebot scan`` with the local registry standing in for Docker Hub and
    index.repo.fake; *repo* is the config's ``repositories:`` entry."""
    config = tmp_path / "imagebot.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        "registries:\n"
        f"  docker.io:\n    mirror: {registry.url}/{prefix}/hub\n"
        f"  index.repo.fake:\n    mirror: {registry.url}/{prefix}/fake\n"
        f"repositories:\n  - {repo}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOT_")}
    result = subprocess.run(
        [IMAGEBOT, "scan", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def committed(root: Path) -> dict[str, bytes]:
    """Every file of the checkout's last commit (policies aside), with its bytes."""
    names = git(root, "ls-tree", "-r", "--name-only", "HEAD").splitlines()
    return {
        name: subprocess.run(
            ["git", "show", f"HEAD:{name}"], cwd=root, capture_output=True, check=True
        ).stdout
        for name in names
        if not name.startswith("policies/")
    }


def expected_tree(original: Path, expected: Path, replace: dict[str, str]) -> dict[str, bytes]:
    """Flux's expected tree: its expected copy of each file it writes, else the original."""
    out = {}
    for path in sorted(p for p in original.rglob("*") if p.is_file()):
        rel = path.relative_to(original).as_posix()
        written = expected / rel
        text = (written if written.exists() else path).read_text()
        for old, new in replace.items():
            text = text.replace(old, new)
        out[rel] = text.encode()
    return out


def set_markers(root: Path, marker: str) -> None:
    """testutil.ReplaceMarker: ``SETTER_SITE`` becomes the marker, in every deploy.yaml."""
    for path in root.rglob("deploy.yaml"):
        path.write_text(path.read_text().replace("SETTER_SITE", marker))


def test_the_setter_tree_is_written_as_flux_writes_it(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(f"{repo_name}/fake/updated", ["v1.0.0", "v1.0.1"])
    digest = registry.push(f"{repo_name}/hub/library/image", ["v1.0.0"]).digest
    policies = flux_policies(
        "automation-ns",
        {
            "policy": ("index.repo.fake/updated", ">=1.0.0"),
            "unchanged": ("image", ">=1.0.0"),
            "policy-with-digest": ("image", ">=1.0.0"),
        },
        **{"policy-with-digest": "digestReflectionPolicy: IfNotPresent"},
    )
    root = make_repository(tmp_path / "fleet", SETTERS / "original", policies)
    (root / "test.yaml").symlink_to("testing.yaml")  # dangling, as in Flux's tree
    git(root, "add", "test.yaml")
    git(root, "commit", "-q", "-m", "a dangling symlink")

    out = scan(tmp_path, registry, repo_name, f"path: {root}")

    want = expected_tree(SETTERS / "original", SETTERS / "expected", {FLUX_DIGEST: digest})
    got = committed(root)
    assert got.pop("test.yaml") == b"testing.yaml"
    assert got == want
    assert git(root, "status", "--porcelain") == ""
    assert "otherns.yaml:11: warning: marker names image policy other-namespace:policy" in out
    assert "marked.yaml:14  bar:cronjob/foo  c  image  image:v1.0.0 -> index.repo.fake/" in out


def test_the_commit_says_a_flux_marker_renamed_the_image(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(f"{repo_name}/fake/updated", ["v1.0.0", "v1.0.1"])
    registry.push(f"{repo_name}/hub/library/image", ["v1.0.0"])
    policies = flux_policies(
        "automation-ns",
        {"policy": ("index.repo.fake/updated", ">=1.0.0"), "unchanged": ("image", ">=1.0.0")},
    )
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(SETTERS / "original" / "marked.yaml", tree)
    root = make_repository(tmp_path / "fleet", tree, policies)

    scan(tmp_path, registry, repo_name, f"path: {root}")

    message = git(root, "log", "-1", "--format=%B")
    assert message.splitlines()[0] == "Update image to index.repo.fake/updated:v1.0.1"
    assert "marked.yaml: CronJob/bar/foo c image:v1.0.0 -> index.repo.fake/updated:v1.0.1" in (
        message
    )


@pytest.mark.parametrize(
    ("case", "policies", "target"),
    [
        ("one policy", {"policy1": ("helloworld", ">=1.0.0")}, "policy1"),
        (
            "multiple policies",
            {
                "policy1": ("foo", ">=1.0.0"),
                "policy2": ("helloworld", ">=1.0.0"),
                "policy3": ("bar", ">=1.0.0"),
            },
            "policy2",
        ),
    ],
)
def test_the_applier_cases_are_written_as_flux_writes_them(
    tmp_path: Path,
    registry: RegistryServer,
    repo_name: str,
    case: str,
    policies: dict[str, tuple[str, str]],
    target: str,
):
    registry.push(f"{repo_name}/hub/library/helloworld", ["1.0.0", "1.0.1"])
    registry.push(f"{repo_name}/hub/library/foo", ["1.1.1"])
    registry.push(f"{repo_name}/hub/library/bar", ["2.2.2"])
    tree = tmp_path / "tree"
    shutil.copytree(APPLIER / "appconfig", tree)
    marker = f'{{"$imagepolicy": "test-ns:{target}"}}'
    set_markers(tree, marker)
    root = make_repository(tmp_path / "fleet", tree, flux_policies("test-ns", policies))

    scan(tmp_path, registry, repo_name, f"path: {root}")

    want = expected_tree(APPLIER / "appconfig", APPLIER / "appconfig-setters-expected", {})
    assert committed(root) == {
        k: v.replace(b"SETTER_SITE", marker.encode()) for k, v in want.items()
    }


def test_the_update_path_limits_which_files_are_written(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(f"{repo_name}/hub/library/helloworld", ["1.0.0", "1.0.1"])
    tree = tmp_path / "tree"
    shutil.copytree(APPLIER / "pathconfig", tree)
    marker = '{"$imagepolicy": "test-ns:policy1"}'
    set_markers(tree, marker)
    policies = flux_policies("test-ns", {"policy1": ("helloworld", ">=1.0.0")})
    root = make_repository(tmp_path / "fleet", tree, policies)

    # Flux's spec.update.path: ./yes
    scan(tmp_path, registry, repo_name, f"{{path: {root}, include: ['yes/**']}}")

    want = expected_tree(APPLIER / "pathconfig", APPLIER / "pathconfig-expected", {})
    assert committed(root) == {
        k: v.replace(b"SETTER_SITE", marker.encode()) for k, v in want.items()
    }
