"""Several ``imagebot run`` replicas on one PostgreSQL store share the work.

Real processes, a real PostgreSQL (``postgres`` fixture), the local registry behind a
counting proxy (every tag list request is seen), bare Git remotes. Each replica has its own
port and state directory (clones), as pods do; only the database is shared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from imagebot.store import STORE_FILE, Store
from imagebot.update import history
from tests.gitops.helpers import Remote, make_remote, use_isolated_git
from tests.harness import LoopbackProxy, RegistryServer, free_port
from tests.harness.postgres import PostgresServer
from tests.update.helpers import automated, deployment

from .e2e import BotProcess, Launcher, metric, signed, wait_until, write_config

pytestmark = pytest.mark.slow

REPLICAS = 3
REPOSITORIES = 4
IMAGES = 6
PER_REPOSITORY = 3  # workloads per repository; repository r uses images r, r+1, r+2
HOOKED = 1  # the image a webhook announces a new tag of: used by repositories 0 and 1
HOOK_SECRET = "replicas-hook-secret-5b1e"
_PORTS: set[int] = set()
RATE = 3  # requests per second the registry's config allows (bursts of 3)


@pytest.fixture(scope="module", autouse=True)
def _isolated_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        use_isolated_git(patch, tmp_path_factory.mktemp("git-home"))
        yield


def replica_config(
    where: Path,
    url: str | None,
    remotes: list[Remote],
    *,
    stalled_after: str = "4s",
    registries: dict[str, Any] | None = None,
) -> tuple[Path, int]:
    """A replica's config: its own port and state directory, the shared database *url*
    (None: the SQLite store in its state directory), a generic webhook receiver."""
    port = free_port()
    while port in _PORTS:  # replicas are started together: free_port may repeat itself
        port = free_port()
    _PORTS.add(port)
    where.mkdir(parents=True, exist_ok=True)
    path = write_config(
        where / "imagebot.yaml",
        state=where / "state",
        port=port,
        repositories=[
            {"url": r.url, "name": f"fleet{i}", "branch": "main"} for i, r in enumerate(remotes)
        ],
        interval="1h",
        cycle_interval="1h",
        tag_cache_ttl="1h",
        shutdown_timeout="5s",
        webhooks={"generic": {"type": "generic", "secret": HOOK_SECRET}},
        registries=registries,
    )
    data: dict[str, Any] = json.loads(path.read_text())
    if url is not None:
        data["state"] = {"url": url, "stalled_after": stalled_after, "poll_interval": "0.5s"}
    path.write_text(json.dumps(data, indent=2))
    return path, port


def automated_fleet(root: Path, images: list[str], repos: int) -> list[Remote]:
    """*repos* bare remotes of PER_REPOSITORY automated Deployments (w0, w1, ...) at 1.0.0,
    on *images* in turn."""
    remotes = []
    for r in range(repos):
        files = {
            f"apps/w{k}.yaml": deployment(
                f"w{k}",
                f"{images[(r + k) % len(images)]}:1.0.0",
                annotations=automated("semver:~1.0"),
            )
            for k in range(PER_REPOSITORY)
        }
        where = root / f"git{r}"
        where.mkdir(parents=True)
        remotes.append(make_remote(where, files))
    return remotes


def images_in(remote: Remote, count: int) -> list[str]:
    """The image of each workload w0, w1, ... on the remote's main branch."""
    return [
        next(line.split("#")[0].split()[-1]
             for line in remote.read(f"apps/w{k}.yaml").decode().splitlines()
             if "image:" in line)
        for k in range(count)
    ]  # fmt: skip


@dataclass
class Fleet:
    backend: str
    remotes: list[Remote]
    before: list[int]  # commits on each remote: at first, after the start-up, after the hook
    started: list[int]
    images: list[str]
    proxy: LoopbackProxy
    store: str
    bots: list[BotProcess]
    metrics: str
    readyz: list[int]
    hooked: list[int]  # repositories using the image the webhook named
    lists_before_hook: int = 0
    lists_after_hook: int = 0
    hooked_counts: list[int] = field(default_factory=list)


@pytest.fixture(
    scope="module",
    params=[("postgresql", REPLICAS), ("sqlite", 1)],
    ids=["3-on-postgresql", "1-on-sqlite"],
)
def shared(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    registry: RegistryServer,
) -> Iterator[Fleet]:
    """Replicas (three on PostgreSQL; one on SQLite, the same behaviour from one process)
    start together over four repositories using six images (some in several);
    every workload is one tag behind. Once all caught up, a new tag of image HOOKED is
    announced by a webhook to one replica. Recorded, then stopped."""
    backend, replicas = request.param
    tmp = tmp_path_factory.mktemp(f"replicas-{backend}")
    names = [f"scaleout/{backend}{i}" for i in range(IMAGES)]
    for name in names:
        registry.push(name, ["1.0.0", "1.0.1"])
    proxy = LoopbackProxy(registry.host)
    images = [f"{proxy.host}/{name}" for name in names]
    remotes = automated_fleet(tmp, images, REPOSITORIES)
    before = [remote.count() for remote in remotes]
    url = None
    if backend == "postgresql":
        url = request.getfixturevalue("postgres").new_database("replicas")
    launcher = Launcher(tmp / "home")
    try:
        bots = []
        for n in range(replicas):
            config, port = replica_config(
                tmp / f"replica{n}", url, remotes, registries={proxy.host: {"rate_limit": RATE}}
            )
            bots.append(launcher.start(config, port))
        for bot in bots:
            bot.wait_ready(60)
        logs = lambda: "\n---\n".join(b.logs() for b in bots)  # noqa: E731

        def caught_up() -> bool:
            return all(
                all(image.endswith(":1.0.1") for image in images_in(remote, PER_REPOSITORY))
                for remote in remotes
            )

        assert wait_until(caught_up, 90, step=0.2), logs()
        wait_until(lambda: False, 2)  # let any duplicate work show itself before counting
        fleet = Fleet(
            backend, remotes, before, [remote.count() for remote in remotes], images, proxy,
            url or str(tmp / "replica0" / "state" / STORE_FILE), bots,
            bots[0].metrics(), [bot.get("/readyz").status_code for bot in bots],
            hooked=[
                r for r, remote in enumerate(remotes)
                if images[HOOKED] + ":1.0.1" in images_in(remote, PER_REPOSITORY)
            ],
        )  # fmt: skip
        hooked_image = names[HOOKED]
        fleet.lists_before_hook = len(proxy.requests_to(f"^/v2/{hooked_image}/tags/list"))
        registry.push(hooked_image, ["1.0.2"])
        body, headers = signed(HOOK_SECRET, {"image": images[HOOKED], "tag": "1.0.2"})
        answer = bots[-1].post("/hooks/generic", body, headers)
        assert answer.status_code == 202, answer.text

        def hooked_done() -> bool:
            return all(
                images[HOOKED] + ":1.0.2" in images_in(remotes[r], PER_REPOSITORY)
                for r in fleet.hooked
            )

        assert wait_until(hooked_done, 60, step=0.2), logs()
        wait_until(lambda: False, 2)
        fleet.lists_after_hook = len(proxy.requests_to(f"^/v2/{hooked_image}/tags/list"))
        fleet.hooked_counts = [remote.count() for remote in remotes]
        for bot in bots:
            assert bot.terminate(timeout=30) == 0, bot.logs()
        yield fleet
    finally:
        launcher.close()
        proxy.stop()


def test_every_due_update_is_committed_exactly_once(shared: Fleet):
    assert shared.started == [count + 1 for count in shared.before]


def test_a_webhook_to_one_replica_updates_each_repository_using_the_image_once(shared: Fleet):
    assert len(shared.hooked) == 2
    assert shared.hooked_counts == [
        count + (r in shared.hooked) for r, count in enumerate(shared.started)
    ]
    for r in shared.hooked:
        assert shared.images[HOOKED] + ":1.0.2" in images_in(shared.remotes[r], PER_REPOSITORY)


def test_each_image_repository_is_listed_once_fleet_wide(shared: Fleet):
    for image in shared.images[:HOOKED] + shared.images[HOOKED + 1 :]:
        path = image.partition("/")[2]
        listed = shared.proxy.requests_to(rf"^/v2/{re.escape(path)}/tags/list")
        assert len(listed) == 1, (image, listed)


def test_the_webhook_lists_its_image_once_more_and_the_cycles_reuse_that_list(shared: Fleet):
    assert shared.lists_before_hook == 1
    assert shared.lists_after_hook == 2


def test_the_replicas_together_keep_the_registrys_rate_within_one_burst(shared: Fleet):
    starts = sorted(seen.at for seen in shared.proxy.seen)
    assert len(starts) > 2 * RATE
    for i, first in enumerate(starts):
        within_a_second = [t for t in starts[i:] if t - first < 1.0]
        # RATE a second after a burst of RATE; one more for a request sent late
        assert len(within_a_second) <= 2 * RATE + 1, starts


def test_the_history_has_one_row_per_update(shared: Fleet):
    with Store.open(shared.store) as store:
        rows = history.entries(store)
    assert len(rows) == REPOSITORIES * PER_REPOSITORY + len(shared.hooked)
    assert len({(r.repository, r.workload, r.new_tag) for r in rows}) == len(rows)


def test_every_replica_is_ready(shared: Fleet):
    assert shared.readyz == [200] * len(shared.bots)


def test_metrics_show_the_shared_queue_empty_once_the_work_is_done(shared: Fleet):
    if shared.backend == "sqlite":
        assert "imagebot_queue_jobs" not in shared.metrics
        return
    for kind in ("scan", "cycle"):
        assert metric(shared.metrics, "imagebot_queue_jobs", kind=kind, state="waiting") == 0
    assert metric(shared.metrics, "imagebot_queue_oldest_waiting_seconds") == 0


def test_a_replica_killed_mid_cycle_leaves_its_work_to_another(
    tmp_path: Path, registry: RegistryServer, postgres: PostgresServer
):
    name = "scaleout/killed"
    registry.push(name, ["1.0.0", "1.0.1"])
    image = f"{registry.host}/{name}"
    where = tmp_path / "git"
    where.mkdir()
    remote = make_remote(
        where,
        {"apps/w0.yaml": deployment("w0", f"{image}:1.0.0", annotations=automated("semver:~1.0"))},
    )
    marker = tmp_path / "push-started"
    hook = remote.path / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ncat >/dev/null\ntouch '{marker}'\nsleep 5\n")
    hook.chmod(0o755)
    before = remote.count()
    url = postgres.new_database("killed")
    launcher = Launcher(tmp_path / "home")
    try:
        first_config, first_port = replica_config(tmp_path / "a", url, [remote])
        first = launcher.start(first_config, first_port)
        assert wait_until(marker.exists, 60), first.logs()
        launcher.kill_pod(first)  # mid-push: the pod is gone, its push with it
        marker.unlink()
        hook.write_text("#!/bin/sh\ncat >/dev/null\n")
        assert remote.count() == before

        second_config, second_port = replica_config(tmp_path / "b", url, [remote])
        second = launcher.start(second_config, second_port)
        done = lambda: images_in(remote, 1) == [f"{image}:1.0.1"]  # noqa: E731
        assert wait_until(done, 60, step=0.2), second.logs()
        assert "stalled" in second.logs()
        assert second.terminate(timeout=30) == 0, second.logs()
    finally:
        launcher.close()

    assert remote.count() == before + 1
    with Store.open(url) as store:
        rows = history.entries(store)
    assert [(r.old_tag, r.new_tag) for r in rows] == [("1.0.0", "1.0.1")]
