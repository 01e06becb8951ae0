"""A whole update cycle (``imagebot scan --dry-run``) against a real registry on loopback.

1,000 files with one Deployment each, 100 images (``bench/app-NN``, tags 1.0.0, 1.0.1 and
1.1.0 on a local ``docker-registry``), every container automated on ``semver:~1.0`` at 1.0.0,
so every file changes. Wall seconds, median of ``--rounds``; each case in a child process of
its own (peak RSS).

* cold: an empty store (every tag list fetched). Floor: the least work a tool must do, a
  concurrent httpx loop fetching the 100 tag lists plus read, splice and write of the 1,000
  files.
* warm: a second run inside the tag cache's TTL (0 registry requests) from a new process, as
  a second ``imagebot scan`` is. Floor: libyaml composing the same files (the discovery floor),
  in the same child just before and just after the cycle (their mean: this machine's speed
  drifts by as much as 2x within seconds). Each case has a checkout of its own, made fresh.
  One process fills the store (tag cache, and the cycle caches it keeps per checkout); then
  each round is a child process of its own, timed from after its imports: it opens the store,
  a ``Runner`` and an ``UpdateCycle`` and runs the cycle, so nothing a cycle computed, and no
  cache warmed by one (compiled patterns, memoised functions), is in its memory. Only
  Python's start-up and module imports are left out: they are what every command pays
  (``bench/startup.py`` measures them), and subtracting a second process's start-up from a
  whole one would leave noise as large as the cycle itself.
* warm, every file touched: the same, after every file was rewritten with its own bytes
  (as a build tool or a careless script does): Git's index no longer vouches for them, so
  each cycle has Git hash them again (imagebot never writes the index of a user's checkout).
  No target: it shows what a stale index costs.
* warm, service: the same in ``imagebot run`` (one process, one ``UpdateCycle``): discovery
  reuses what it read per Git blob. Same floor.

The warm cases do no network I/O, so they are measured in CPU seconds (the process's, all
threads, plus its git children's), each imagebot round followed by a floor round in the same
process: on a machine shared with other work, wall time there measures the scheduler.

The registry gets ``rate_limit: 100000`` in the config, so that the case measures imagebot's
own work and not the default politeness (speedpolicy's defaults decide that separately).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import Row, peak_rss_mb, table

REPO = Path(__file__).resolve().parent.parent
IMAGES = 100
FILES = 1000
TAGS = ["1.0.0", "1.0.1", "1.1.0"]
CONCURRENCY = 8


def manifest(i: int, image: str) -> bytes:
    return (
        f"# service {i}: deployed by GitOps\n"
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        f"  name: svc-{i:04d}\n"
        "  namespace: fleet\n"
        "  annotations:\n"
        '    imagebot.io/automated: "true"\n'
        '    imagebot.io/tag.app: "semver:~1.0"\n'
        "spec:\n"
        "  replicas: 2\n"
        "  template:\n"
        "    spec:\n"
        "      containers:\n"
        "        - name: app\n"
        f"          image: {image}   # the app\n"
        "          ports:\n"
        "            - containerPort: 8080\n"
    ).encode()


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_repo(root: Path, host: str) -> list[tuple[Path, bytes]]:
    files = []
    for i in range(FILES):
        path = root / "apps" / f"svc-{i:04d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = manifest(i, f"{host}/bench/app-{i % IMAGES:02d}:1.0.0")
        path.write_bytes(data)
        files.append((path, data))
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(
        root,
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.invalid",
        "commit",
        "-q",
        "-m",
        "fleet",
    )
    return files


def config_text(host: str, state: Path) -> str:
    return (
        f"state_dir: {state}\ntag_cache_ttl: 1h\n"
        f"registries: {{'{host}': {{rate_limit: 100000, max_concurrency: {CONCURRENCY}}}}}\n"
    )


# --- the sides (each in a child process) -----------------------------------------------------


def _cpu() -> float:
    """CPU seconds of this process (every thread) and of its waited-for children (git)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _imagebot(repo: Path, host: str, state: Path, rounds: int, mode: str) -> dict[str, float]:
    from imagebot.config import RepositoryConfig, parse_config
    from imagebot.store import Store
    from imagebot.update import Runner, UpdateCycle

    config = parse_config(config_text(host, state))
    if mode == "warm-round":
        return _new_process_round(repo, host, state)
    samples, floors, requests = [], [], 0
    updates = 0
    keep: UpdateCycle | None = None
    store = Store.open(state / "imagebot.db")
    runner = Runner(config, store)
    runner.start()
    try:
        if mode != "cold":  # fill the tag cache (and, for the service, the blob cache)
            keep = UpdateCycle(config, runner, store=store)
            keep.run(RepositoryConfig(path=str(repo)), dry_run=True)
        if mode in ("warm", "warm-touched"):  # each round a new process (see the docstring)
            if mode == "warm-touched":  # every file rewritten with its own bytes
                for path in sorted((repo / "apps").glob("*.yaml")):
                    path.write_bytes(path.read_bytes())
            runner.close()
            store.close()
            done = [
                _child("imagebot", str(repo), host, str(state), "1", "warm-round")
                for _ in range(rounds)
            ]
            return {
                "median": statistics.median(d["median"] for d in done),
                "floor": statistics.median(d["floor"] for d in done),
                "rss": max(d["rss"] for d in done),
                "requests": max(d["requests"] for d in done),
                "updates": done[-1]["updates"],
            }
        for _ in range(rounds):
            if mode == "cold":
                store.close()
                (state / "imagebot.db").unlink()
                store = Store.open(state / "imagebot.db")
                runner.close()
                runner = Runner(config, store)
                runner.start()
            before = sum(runner.client.requests.values())
            cycle = keep if mode == "service" and keep is not None else None
            clock = time.perf_counter if mode == "cold" else _cpu
            started = clock()
            cycle = cycle or UpdateCycle(config, runner, store=store)
            report = cycle.run(RepositoryConfig(path=str(repo)), dry_run=True)
            samples.append(clock() - started)
            if mode != "cold":
                floors.append(_compose_all(repo))
            requests = sum(runner.client.requests.values()) - before
            updates = len(report.applied)
            assert report.ok, [p.message for p in report.problems][:3]
    finally:
        runner.close()
        store.close()
    out = {
        "median": statistics.median(samples),
        "rss": peak_rss_mb(),
        "requests": requests,
        "updates": updates,
    }
    if floors:
        out["floor"] = statistics.median(floors)
    return out


def _new_process_round(repo: Path, host: str, state: Path) -> dict[str, float]:
    """One warm cycle in this new process, from a new store handle on: CPU seconds, then the
    floor's."""
    from imagebot.config import RepositoryConfig, parse_config
    from imagebot.store import Store
    from imagebot.update import Runner, UpdateCycle

    config = parse_config(config_text(host, state))
    floor_before = _compose_all(repo)
    started = _cpu()
    with Store.open(state / "imagebot.db") as store, Runner(config, store) as runner:
        report = UpdateCycle(config, runner, store=store).run(
            RepositoryConfig(path=str(repo)), dry_run=True
        )
        requests = sum(runner.client.requests.values())
    took = _cpu() - started
    assert report.ok, [p.message for p in report.problems][:3]
    return {
        "median": took,
        # bracketed: the mean of a floor round just before and one just after, so that a
        # change of the machine's speed over the round moves both sides alike
        "floor": (floor_before + _compose_all(repo)) / 2,
        "rss": peak_rss_mb(),
        "requests": requests,
        "updates": len(report.applied),
    }


def _compose_all(repo: Path) -> float:
    """CPU seconds of the discovery floor: libyaml composing every manifest once."""
    import yaml

    paths = sorted((repo / "apps").glob("*.yaml"))
    started = time.process_time()
    for path in paths:
        for _ in yaml.compose_all(path.read_bytes(), Loader=yaml.CSafeLoader):
            pass
    return time.process_time() - started


def _floor_cold(repo: Path, host: str, rounds: int) -> dict[str, float]:
    import httpx

    names = [f"bench/app-{i:02d}" for i in range(IMAGES)]

    async def fetch() -> dict[str, list[str]]:
        limit = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient(base_url=f"http://{host}") as client:

            async def one(name: str) -> tuple[str, list[str]]:
                async with limit:
                    response = await client.get(f"/v2/{name}/tags/list")
                    response.raise_for_status()
                    return name, response.json()["tags"]

            return dict(await asyncio.gather(*(one(n) for n in names)))

    paths = sorted((repo / "apps").glob("*.yaml"))
    originals = {p: p.read_bytes() for p in paths}
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        tags = asyncio.run(fetch())
        assert all(sorted(t) == TAGS for t in tags.values())
        for path in paths:
            data = path.read_bytes()
            at = data.index(b":1.0.0")
            path.write_bytes(data[:at] + b":1.0.1" + data[at + 6 :])
        samples.append(time.perf_counter() - started)
        for path, data in originals.items():
            path.write_bytes(data)
    return {"median": statistics.median(samples), "rss": peak_rss_mb(), "requests": IMAGES}


def _child(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.cycle", "--child", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.cycle child {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _push_all(registry: object, tags: list[str]) -> None:
    names = [f"bench/app-{i:02d}" for i in range(IMAGES)]
    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(registry.push, n, tags) for n in names]:  # type: ignore[attr-defined]
            future.result()


def rows(argv: list[str]) -> list[Row]:
    from tests.harness import start_registry

    parser = argparse.ArgumentParser(prog="python -m bench cycle")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1 round")
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.rounds = 1
    rounds = str(args.rounds)
    out = []
    with (
        tempfile.TemporaryDirectory(prefix="imagebot-bench-cycle-") as tmp,
        start_registry(Path(tmp) / "registry") as registry,
    ):
        _push_all(registry, TAGS)
        size = f"{FILES:,} files, {IMAGES} images"
        cases = [
            ("cycle cold", "cold", "floor-cold", 3.0),
            ("cycle warm (new process)", "warm", None, 1.5),
            ("cycle warm (new process, every file touched)", "warm-touched", None, None),
            ("cycle warm (imagebot run)", "service", None, 1.5),
        ]
        for name, mode, floor_side, target in cases:
            state = Path(tmp) / f"state-{mode}"
            state.mkdir()
            # a checkout of its own, as a fresh clone is: the cold floor rewrites every file
            # (bytes restored, stat data not), and a later case would find Git's index stale
            repo = Path(tmp) / f"repo-{mode}"
            make_repo(repo, registry.host)
            ours = _child("imagebot", str(repo), registry.host, str(state), rounds, mode)
            if floor_side is None:  # the floor was measured in the same process, round by round
                floor = {"median": ours["floor"]}
            else:
                floor = _child(floor_side, str(repo), registry.host, str(state), rounds, mode)
            out.append(
                Row(
                    name,
                    size,
                    ours["median"],
                    floor["median"],
                    target,
                    peak_rss_mb=ours["rss"],
                    unit="wall s" if mode == "cold" else "CPU s",
                    note=f"{ours['requests']:.0f} requests (floor {floor.get('requests', 0):.0f})"
                    f", {ours['updates']:.0f} updates",
                )
            )
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        side, repo, host, state, rounds, mode = argv[1:7]
        if side == "imagebot":
            result = _imagebot(Path(repo), host, Path(state), int(rounds), mode)
        else:
            result = _floor_cold(Path(repo), host, int(rounds))
        print(json.dumps(result))
        return 0
    print(table(rows(argv)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
