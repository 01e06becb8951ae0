"""The shared job queue (service/queue.py) on a real PostgreSQL, without the rest of the bot:
two JobQueue objects are two replicas."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from imagebot.service.queue import JobQueue
from imagebot.store import Store
from tests.harness.postgres import PostgresServer

from .e2e import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def url(postgres: PostgresServer) -> str:
    return postgres.new_database("queue")


class Replica:
    """A JobQueue whose cycles record their keys and may be held until released."""

    def __init__(
        self, url: str, *, stalled_after: float, hold: bool = False, concurrency: int = 4
    ) -> None:
        self.store = Store.open(url)
        self.queue = JobQueue(
            url, self.store, stalled_after=stalled_after, poll_interval=0.2, concurrency=concurrency
        )
        self.ran: list[str] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.queue.bind(scan=self._work, cycle=self._work)
        self.queue.start()

    def _work(self, key: str, flags: frozenset[str]) -> None:
        self.started.set()
        self.release.wait(60)
        self.ran.append(key)

    def close(self) -> None:
        self.release.set()
        self.queue.pause()
        self.queue.wait_idle(10)
        self.queue.stop(10)
        self.store.close()


@pytest.fixture
def replicas(url: str) -> Iterator[list[Replica]]:
    made: list[Replica] = []
    yield made
    for replica in made:
        replica.close()


def test_a_second_trigger_while_one_waits_is_folded_into_it(url: str, replicas: list[Replica]):
    busy = Replica(url, stalled_after=60, hold=True)
    replicas.append(busy)
    assert busy.queue.defer("cycle", "fleet") is True
    assert busy.started.wait(30)
    assert busy.queue.defer("cycle", "fleet") is True  # waits behind the running one
    assert busy.queue.defer("cycle", "fleet") is False  # one waits already: it will do
    assert busy.queue.defer("cycle", "other") is True

    busy.release.set()

    assert wait_until(lambda: len(busy.ran) == 3, 30)
    assert sorted(busy.ran) == ["fleet", "fleet", "other"]


def test_only_one_replica_claims_each_interval(url: str):
    with Store.open(url) as one, Store.open(url) as other:
        first = JobQueue(url, one)
        second = JobQueue(url, other)
        claims = [first.claim("cycle:fleet", 300), second.claim("cycle:fleet", 300)]
        assert claims == [True, False]
        assert second.claim("cycle:other", 300) is True


def test_a_stalled_job_whose_twin_waits_is_failed_and_the_twin_runs_once(
    url: str, replicas: list[Replica]
):
    """A replica stops sending heartbeats (here: far apart) while it runs a cycle and another
    cycle of the same repository waits: another replica's reaper cannot queue the stalled
    one again (its twin holds the queueing lock), so it fails it, and the twin runs."""
    silent = Replica(url, stalled_after=10_000, hold=True)  # heartbeat every ~28 min
    replicas.append(silent)
    assert silent.queue.defer("cycle", "fleet")
    assert silent.started.wait(30)
    assert silent.queue.defer("cycle", "fleet")  # the twin, waiting on the lock
    watcher = Replica(url, stalled_after=3)
    replicas.append(watcher)

    assert wait_until(lambda: watcher.ran == ["fleet"], 60, step=0.2)
    wait_until(lambda: False, 1)  # nothing more comes
    assert watcher.ran == ["fleet"]
    assert silent.ran == []
    statuses = sorted(
        str(r[0])
        for r in watcher.store.query(
            "SELECT status FROM procrastinate_jobs WHERE lock = ?", ("cycle:fleet",)
        )
    )
    assert statuses == ["failed"]  # the twin succeeded and was deleted


def test_stats_count_waiting_and_running_jobs_and_the_oldest_wait(
    url: str, replicas: list[Replica]
):
    busy = Replica(url, stalled_after=60, hold=True, concurrency=1)
    replicas.append(busy)
    assert busy.queue.stats().oldest_wait == 0
    busy.queue.defer("cycle", "fleet")
    assert busy.started.wait(30)
    busy.queue.defer("cycle", "fleet")
    busy.queue.defer("scan", "ghcr.io/org/app")
    with busy.store.transaction() as db:  # the scan has waited a minute
        db.execute(
            "UPDATE procrastinate_events SET at = now() - interval '60 seconds' "
            "WHERE type = 'deferred' AND job_id = (SELECT id FROM procrastinate_jobs "
            "WHERE task_name = 'imagebot.scan')"
        )

    stats = busy.queue.stats()

    assert stats.running == {"cycle": 1}
    assert stats.waiting == {"cycle": 1, "scan": 1}
    assert 60 <= stats.oldest_wait < 3600
