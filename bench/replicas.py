"""Repositories updated per minute with 1, 2 and 3 ``imagebot run`` replicas on PostgreSQL.

``--repos`` Git repositories (bare, on disk) of 3 automated Deployments each, over ``--images``
image repositories on a local ``docker-registry`` behind a counting proxy; every workload is
one tag behind. For each case: a new database, new remotes and new state directories, the
replicas started together, and the wall time until every remote has all its updates
(process start-up included). Floor: one replica on the default SQLite store, the
single-process service. The note gives repositories per minute and the tag lists the
registry served, against the single process's count (one per image repository is the least).

A 2-core machine runs the replicas, PostgreSQL and the registry on the same cores, so the
figures show the coordination's cost more than its gain; on separate nodes each replica
brings its own cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Row, table

REPO = Path(__file__).resolve().parent.parent


def _run(
    root: Path, images: list[str], repos: int, replicas: int, url: str | None, proxy: Any
) -> tuple[float, int]:
    """Seconds until every repository is updated, and tag lists served meanwhile."""
    from tests.service.e2e import Launcher, wait_until
    from tests.service.test_replicas import (
        PER_REPOSITORY,
        automated_fleet,
        images_in,
        replica_config,
    )

    remotes = automated_fleet(root / "remotes", images, repos)
    launcher = Launcher(root / "home")
    listed_before = len(proxy.requests_to(r"/tags/list"))
    try:
        configs = []
        for n in range(replicas):
            config, port = replica_config(root / f"replica{n}", url or "", remotes)
            if url is None:  # the single process on SQLite: no state section
                data = json.loads(config.read_text())
                del data["state"]
                config.write_text(json.dumps(data))
            configs.append((config, port))
        started = time.perf_counter()
        bots = [launcher.start(config, port) for config, port in configs]

        def done() -> bool:
            for bot in bots:
                if not bot.alive():
                    raise RuntimeError(f"a replica exited:\n{bot.logs()[-3000:]}")
            return all(
                all(i.endswith(":1.0.1") for i in images_in(r, PER_REPOSITORY)) for r in remotes
            )

        if not wait_until(done, 600, step=0.1):
            raise RuntimeError("not every repository was updated within 600s")
        seconds = time.perf_counter() - started
        for bot in bots:
            bot.terminate(timeout=30)
    finally:
        launcher.close()
    return seconds, len(proxy.requests_to(r"/tags/list")) - listed_before


def rows(argv: list[str]) -> list[Row]:
    from tests.gitops.helpers import isolate_git
    from tests.harness import LoopbackProxy, start_registry
    from tests.harness.postgres import start_postgres

    parser = argparse.ArgumentParser(prog="python -m bench replicas")
    parser.add_argument("--repos", type=int, default=30)
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="6 repositories, 6 images")
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.repos, args.images = 6, 6
    out: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="imagebot-bench-replicas-") as tmp:
        root = Path(tmp)
        os.environ.update(isolate_git(root / "git-home"))
        server = start_postgres()
        try:
            with start_registry(root / "registry") as registry:
                names = [f"bench/replica-{i:02d}" for i in range(args.images)]
                for name in names:
                    registry.push(name, ["1.0.0", "1.0.1"])
                proxy = LoopbackProxy(registry.host)
                images = [f"{proxy.host}/{name}" for name in names]
                size = f"{args.repos} repos x 3 workloads, {args.images} images"

                def measure(replicas: int, shared: bool) -> tuple[float, int]:
                    runs = []
                    for n in range(args.rounds):
                        url = server.new_database("bench") if shared else None
                        where = root / f"{'pg' if shared else 'sqlite'}-{replicas}-{n}"
                        runs.append(_run(where, images, args.repos, replicas, url, proxy))
                    return statistics.median(s for s, _ in runs), runs[-1][1]

                floor, floor_lists = measure(1, shared=False)
                for replicas in (1, 2, 3):
                    seconds, lists = measure(replicas, shared=True)
                    out.append(
                        Row(
                            f"replicas: {replicas} on PostgreSQL",
                            size,
                            seconds,
                            floor,
                            None,
                            note=f"{args.repos * 60 / seconds:.0f} repos/min (1 on SQLite: "
                            f"{args.repos * 60 / floor:.0f}); {lists} tag lists "
                            f"(1 on SQLite: {floor_lists})",
                        )
                    )
                proxy.stop()
        finally:
            server.stop()
    return out


def main(argv: list[str]) -> int:
    print(table(rows(argv)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
