"""What a user gets from ``pip install``: the wheel built from the files the Dockerfile copies,
installed into a fresh virtualenv outside the checkout, runs ``imagebot demo`` to the end.

The fresh environment finds imagebot's dependencies through a ``.pth`` line pointing at the
test environment's site-packages (no network); imagebot itself comes only from the wheel,
which the first assertion checks.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from imagebot.demo.scenario import EXAMPLES, UPSTREAM

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def build_stage_copies() -> list[str]:
    """The sources the Dockerfile's build stage copies before ``pip wheel``."""
    build = DOCKERFILE.split("\nFROM ", 2)[1]
    sources: list[str] = []
    for line in build.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources += line.split()[1:-1]
    return sources


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IMAGEBOT_", "PYTHON", "VIRTUAL_ENV"))
    }
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env.update(TMPDIR=str(tmp_path / "tmp"), NO_COLOR="1", PYTHONUNBUFFERED="1", **extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel --no-deps`` over a copy of exactly what the Dockerfile copies."""
    src = tmp_path_factory.mktemp("src")
    for name in build_stage_copies():
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (built,) = dist.glob("imagebot-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh virtualenv with the wheel installed; returns its ``bin`` directory."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run(
        [*pip, "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Dependencies from the test environment; a .pth line adds a path but runs none of the
    # .pth files there, so the checkout's editable install stays invisible.
    (Path(purelib) / "imagebot-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def test_the_wheel_carries_the_demo_manifests_and_their_sources():
    names = set()
    for path in EXAMPLES.rglob("*"):
        if path.is_file():
            names.add(f"imagebot/demo/examples/{path.relative_to(EXAMPLES)}")
    assert "imagebot/demo/examples/SOURCES.md" in names
    assert {f"imagebot/demo/examples/{source}" for source in UPSTREAM.values()} <= names


@pytest.mark.slow
def test_the_wheel_holds_every_example_file(wheel: Path):
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    for path in EXAMPLES.rglob("*"):
        if path.is_file():
            assert f"imagebot/demo/examples/{path.relative_to(EXAMPLES)}" in in_wheel


@pytest.mark.slow
def test_imagebot_demo_runs_from_a_wheel_installed_outside_the_checkout(
    installed: Path, tmp_path: Path
):
    env = clean_env(tmp_path, PATH=f"{installed}{os.pathsep}{os.environ['PATH']}")
    where = subprocess.run(
        [str(installed / "python"), "-c", "import imagebot; print(imagebot.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(installed.parent)), where
    assert not where.startswith(str(ROOT))

    result = subprocess.run(
        [str(installed / "imagebot"), "demo", "--workdir", str(tmp_path / "work"), "--keep"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\s*\$ imagebot scan --repo file://", result.stdout, re.M), result.stdout
    log = subprocess.run(
        ["git", "log", "--format=%an|%s", "-1", "main"],
        cwd=tmp_path / "work" / "forge" / "gitops.git",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert log == "imagebot|Update 4 images\n"


def test_the_dockerfile_builds_the_wheel_from_the_package_with_its_data():
    assert {"pyproject.toml", "imagebot"} <= set(build_stage_copies())
    # the package itself, with its PostgreSQL extra (deploy/ha)
    assert re.search(r'^RUN pip wheel .* "\.\[postgresql\]"$', DOCKERFILE, re.M)
    assert re.search(r"^RUN pip install .*/wheels/\*\.whl", DOCKERFILE, re.M)


def test_the_container_image_has_what_imagebot_demo_needs():
    runtime = DOCKERFILE.split("\nFROM ", 2)[2]
    installs = " ".join(re.findall(r"apt-get install ((?:.*\\\n)*.*)", runtime))
    packages = set(installs.replace("\\\n", " ").split())
    assert {"git", "docker-registry"} <= packages
    assert re.search(r'^ENTRYPOINT \["imagebot"\]$', runtime, re.M)  # docker run IMAGE demo
