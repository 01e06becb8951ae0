"""``imagebot demo`` (what ``./dev demo`` runs), as a user runs it: a subprocess started
outside the source tree, so nothing from ``tests/`` can be imported by accident. The same
demo from a wheel installed in a fresh virtualenv: ``tests/test_packaging.py``.

The expected commit is written out here line by line rather than taken from the demo's own
scenario, so a demo that explains the wrong thing cannot pass.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from imagebot.demo.outcome import Outcome, foreign_changes
from imagebot.demo.scenario import EXAMPLES, WORKLOADS, ExamplesMissing, annotate

DEMO = [sys.executable, "-m", "imagebot", "demo"]
MARKER = '# {"$imagepolicy": "flux-system:podinfo:tag"}'


@dataclass
class Run:
    workdir: Path
    result: subprocess.CompletedProcess[str]

    @property
    def forge(self) -> Path:
        return self.workdir / "forge" / "gitops.git"


def demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOT_")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env.update(TMPDIR=str(tmp_path / "tmp"), PYTHONUNBUFFERED="1", NO_COLOR="1", **extra)
    return env


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def changed_lines(repo: Path) -> list[str]:
    diff = git(repo, "diff", "--no-color", "-U0", "main~1", "main")
    out, file = [], ""
    for line in diff.splitlines():
        if line.startswith("+++ b/"):
            file = line[6:]
        elif line[:1] in "+-" and not line.startswith(("+++", "---")):
            out.append(f"{file}: {line}")
    return out


def registry_port(text: str) -> int:
    match = re.search(r"127\.0\.0\.1:(\d+)", text)
    assert match, text
    return int(match.group(1))


def is_listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run_demo(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO, *args],
        cwd=tmp_path,
        env=demo_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One complete demo run with --keep, shared by the tests that read its results."""
    tmp_path = tmp_path_factory.mktemp("demo")
    workdir = tmp_path / "work"
    return Run(workdir, run_demo(tmp_path, "--workdir", str(workdir), "--keep"))


@pytest.mark.slow
def test_demo_succeeds(kept: Run):
    assert kept.result.returncode == 0, kept.result.stdout + kept.result.stderr
    assert "Traceback" not in kept.result.stderr


@pytest.mark.slow
def test_demo_commit_moves_exactly_the_automated_workloads_to_the_expected_tags(kept: Run):
    assert changed_lines(kept.forge) == [
        "cache/deployment.yaml: -          image: docker.io/redis:8.8.0",
        "cache/deployment.yaml: +          image: docker.io/redis:8.8.1",
        f"podinfo/kustomization.yaml: -    newTag: 6.14.1 {MARKER}",
        f"podinfo/kustomization.yaml: +    newTag: 6.15.0 {MARKER}",
        "sock-shop/carts-dep.yaml: -        image: weaveworksdemos/carts:0.4.8",
        "sock-shop/carts-dep.yaml: +        image: weaveworksdemos/carts:0.4.10",
        "sock-shop/front-end-dep.yaml: -        image: weaveworksdemos/front-end:0.3.12",
        "sock-shop/front-end-dep.yaml: +        image: weaveworksdemos/front-end:0.3.13",
    ]


@pytest.mark.slow
def test_demo_commit_is_the_bots_on_top_of_the_two_seed_commits(kept: Run):
    log = git(kept.forge, "log", "--format=%an|%s", "main").splitlines()
    assert log == [
        "imagebot|Update 4 images",
        "Demo User|Let imagebot update some images",
        "Demo User|Add sock-shop and podinfo manifests (unchanged from upstream)",
    ]


@pytest.mark.slow
def test_demo_leaves_locked_and_manual_workloads_alone(kept: Run):
    def at_main(path: str) -> str:
        return git(kept.forge, "show", f"main:{path}")

    assert "image: weaveworksdemos/orders:0.4.7\n" in at_main("sock-shop/orders-dep.yaml")
    assert "image: weaveworksdemos/catalogue:0.3.5\n" in at_main("sock-shop/catalogue-dep.yaml")
    assert "image: ghcr.io/stefanprodan/podinfo:6.14.1\n" in at_main("podinfo/deployment.yaml")


@pytest.mark.slow
def test_demo_seed_commit_holds_the_examples_byte_for_byte(kept: Run):
    examples = Path(__file__).resolve().parents[1] / "imagebot" / "demo" / "examples"
    assert examples == EXAMPLES
    seed = "main~2"
    pairs = {
        "sock-shop/carts-dep.yaml": "sock-shop/carts-dep.yaml",
        "podinfo/kustomization.yaml": "podinfo/kustomize/kustomization.yaml",
        "cache/deployment.yaml": "podinfo/cache/deployment.yaml",
    }
    for target, source in pairs.items():
        shown = subprocess.run(
            ["git", "show", f"{seed}:{target}"], cwd=kept.forge, capture_output=True, check=True
        ).stdout
        assert shown == (examples / source).read_bytes(), target


@pytest.mark.slow
def test_demo_shows_the_commands_it_runs_and_explains_the_outcome(kept: Run):
    out = kept.result.stdout
    assert re.search(r"\$ \S*imagebot scan --repo file://\S+gitops\.git --config \S+", out)
    assert re.search(r"\$ \S*imagebot list-images --repo \S+", out)
    assert re.search(r"\$ \S*imagebot history --config \S+", out)
    assert "not 0.3.14-rc.1: is a prerelease" in out
    assert "not 8.8.2-alpine: not of the family of 8.8.0" in out
    assert "not 7.0.0: does not satisfy ^6.0.0" in out
    assert "orders (sock-shop/orders-dep.yaml): stays 0.4.7, locked" in out
    assert "catalogue (sock-shop/catalogue-dep.yaml): stays 0.3.5, not automated" in out
    assert "\x1b[" not in out  # no colour codes when not on a terminal


@pytest.mark.slow
def test_demo_stops_its_registry_even_when_keeping_the_workdir(kept: Run):
    config = (kept.workdir / "imagebot.yaml").read_text()
    assert not is_listening(registry_port(config))


@pytest.mark.slow
def test_demo_removes_its_temporary_workdir_and_stops_the_registry(tmp_path: Path):
    result = run_demo(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not is_listening(registry_port(result.stdout))


@pytest.mark.slow
def test_ctrl_c_stops_the_registry_and_removes_the_workdir(tmp_path: Path):
    workdir = tmp_path / "work"
    process = subprocess.Popen(
        [*DEMO, "--workdir", str(workdir)],
        cwd=tmp_path,
        env=demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("2. "):  # the registry is up and filled
            break
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=60)[0]
    output = "".join(seen) + rest

    assert process.returncode == 130, output
    assert "Interrupted" in output
    assert not workdir.exists()
    assert not is_listening(registry_port(output))


def test_demo_without_docker_registry_says_how_to_get_it(tmp_path: Path):
    result = run_demo(tmp_path, PATH=str(tmp_path / "empty-path"))

    assert result.returncode == 2
    assert "apt-get install docker-registry" in result.stdout
    assert "./dev demo" in result.stdout
    assert list((tmp_path / "tmp").iterdir()) == []


def test_python_dash_m_imagebot_demo_is_the_same_command(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "imagebot.demo", "--help"],
        cwd=tmp_path,
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "Usage: python -m imagebot.demo [OPTIONS]" in result.stdout
    assert "--workdir DIR" in result.stdout


def test_the_dev_script_runs_the_demo_as_imagebot_demo():
    dev = (Path(__file__).resolve().parents[1] / "dev").read_text()
    assert re.search(r'^\s*exec "\$VENV/bin/imagebot" demo "\$@"$', dev, re.M)


def test_annotations_are_typed_in_under_the_workload_name_leaving_other_bytes_alone():
    manifest = b"kind: Deployment\nmetadata:\n  name: carts\n  labels: {a: b}\nspec: {}  # keep\n"

    annotated = annotate(manifest, {"fluxcd.io/automated": "true"}, file="carts.yaml")

    assert annotated == (
        b"kind: Deployment\nmetadata:\n  name: carts\n"
        b'  annotations:\n    fluxcd.io/automated: "true"\n'
        b"  labels: {a: b}\nspec: {}  # keep\n"
    )


def test_an_edited_example_without_a_metadata_name_line_is_refused():
    with pytest.raises(ExamplesMissing, match=r"carts\.yaml"):
        annotate(b"kind: Deployment\nmetadata: {name: carts}\n", {"a": "b"}, file="carts.yaml")


def test_a_commit_changing_more_than_the_image_tag_is_caught():
    carts = next(w for w in WORKLOADS if w.name == "carts")
    moved = Outcome(carts, "0.4.10", [])
    diff = (
        "+++ b/sock-shop/carts-dep.yaml\n@@ -23 +23 @@\n"
        "-        image: weaveworksdemos/carts:0.4.8\n"
        "+        image: weaveworksdemos/carts:0.4.10\n"
        "@@ -30 +30 @@\n-  replicas: 1\n+  replicas: 2\n"
    )

    assert foreign_changes(diff, [moved]) == [
        "sock-shop/carts-dep.yaml: -  replicas: 1",
        "sock-shop/carts-dep.yaml: +  replicas: 2",
    ]
