"""Argo CD Image Updater's own end-to-end suites, run by imagebot.

The Applications of its e2e suites 001 (kustomize, semver, ``.argocd-source`` write-back),
007 (``write-back-target: kustomization``) and 008 (Helm chart, ``digest`` strategy) are
used as they are, with the test Git server's URL replaced by this test's remote and its
registries answered by a local one. Each suite's assertion (``02-assert.yaml``) expects the
application to run ``test-image:1.0.2`` (001, 007) or ``ks-guestbook-demo:0.2@sha256:...``
(008); the files checked in under ``expected/e2e/`` are what the tool writes for that, in
the format Argo CD reads (see ``SOURCES.md``). The suites' Git server has one branch,
``master`` (007's ``targetRevision``, 008's ``git-branch``), and so has this remote.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.argo_iu.support import CREATED, assert_wrote_exactly, scan
from tests.gitops.helpers import Remote, git, make_remote
from tests.harness import RegistryServer, start_registry

HERE = Path(__file__).parent
E2E = HERE / "test" / "e2e"
EXPECTED = HERE / "expected" / "e2e"
SUITES = ("001-simple-kustomize-app-semver", "007-git-repository", "008-git-repository-helm")
#: The suites' test Git server and registry, as their manifests name them.
GIT_URLS = ("http://10.42.0.1:30002/testdata.git", "https://10.42.0.1:30003/testdata.git")
HOSTS = ["10.42.0.1:30000", "gcr.io"]
#: The digest of ks-guestbook-demo:0.2 as pushed here (the same in every run).
GUESTBOOK_0_2 = "sha256:76b9a9c10550e52b53ec04350cdd65da974e321763a79663c1e55a6d3fed9d10"


def e2e_repository(where: Path) -> Remote:
    """The suites' test repository: their apps under ``apps/``, their sources at the top."""
    url = (where / "remote.git").as_uri()
    files: dict[str, bytes] = {}
    for suite in SUITES:
        data = (E2E / "suite" / suite / "01-install.yaml").read_bytes()
        for old in GIT_URLS:
            data = data.replace(old.encode(), url.encode())
        files[f"apps/{suite}.yaml"] = data
    testdata = E2E / "containers" / "git" / "testdata"
    for path in sorted(testdata.rglob("*")):
        if path.is_file():
            files[path.relative_to(testdata).as_posix()] = path.read_bytes()
    remote = make_remote(where, files)
    git(remote.path, "branch", "-m", "main", "master")
    git(remote.path, "symbolic-ref", "HEAD", "refs/heads/master")
    return remote


@pytest.fixture
def e2e_registry(tmp_path: Path):
    with start_registry(tmp_path / "registry", auth="none") as server:
        for day, tag in enumerate(("1.0.0", "1.0.1", "1.0.2")):
            server.push("test-image", [tag], created=CREATED + timedelta(days=day))
        for day, tag in enumerate(("0.1", "0.2")):
            pushed = server.push(
                "heptio-images/ks-guestbook-demo", [tag], created=CREATED + timedelta(days=day)
            )
        assert pushed.digest == GUESTBOOK_0_2, "the pushed image changed: update expected/e2e"
        yield server


@pytest.mark.slow
def test_the_e2e_suites_end_with_the_files_argo_cd_image_updater_writes(
    tmp_path: Path, e2e_registry: RegistryServer
):
    remote = e2e_repository(tmp_path)
    before = remote.tip("master")

    result = scan(tmp_path, e2e_registry, HOSTS, "--repo", remote.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert_wrote_exactly(remote, before, EXPECTED, "master")
