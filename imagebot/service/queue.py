"""Work shared by replicas: scans and update cycles as Procrastinate jobs in PostgreSQL.

On a PostgreSQL store (``state.url``) every replica of ``imagebot run`` keeps its timers
and webhooks, but a trigger *queues* a job instead of running it, and every replica's worker
takes jobs from the one queue:

* one job per image repository scan (``imagebot.scan``), one per Git repository cycle
  (``imagebot.cycle``); both carry a Procrastinate *lock* (``scan:<image>``,
  ``cycle:<repo>``), so a repository's cycle never runs on two replicas at once, and a
  *queueing lock*, so at most one is waiting (a webhook's fresh scan has a queueing lock of
  its own: it waits beside a plain one and runs after it);
* a timer first *claims* its slot (:meth:`JobQueue.claim`, table ``service_claims``): of the
  replicas whose timers fire within one interval, one queues the work; with the shared tag
  cache, an image repository is listed about once per interval fleet-wide;
* each worker sends a heartbeat; a replica that stops sending them (killed) leaves its jobs
  in ``doing``: after ``state.stalled_after`` any worker's reaper puts them back in the
  queue, and another replica runs them (a cycle is safe to run again: it computes its
  change on the fresh tip and pushes atomically, so the remote gets each change once).

The worker runs on a daemon thread with its own event loop; deferring from other threads
goes through that loop. Procrastinate's tables are created on first start (its own schema,
beside the store's migrations, under the same advisory lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagebot.store import Store

if TYPE_CHECKING:
    import procrastinate

log = logging.getLogger(__name__)

#: pg_advisory_lock key while creating Procrastinate's tables (same as the store's).
SCHEMA_LOCK = 0x696D616765626F74
#: A timer that fires this fraction of an interval early still wins its claim (jitter).
CLAIM_SLACK = 0.1

Work = Callable[[str, frozenset[str]], None]


@dataclass(frozen=True)
class QueueStats:
    """What waits in the queue: jobs per kind, and how long the oldest has waited."""

    waiting: dict[str, int]
    running: dict[str, int]
    oldest_wait: float  # seconds; 0 when nothing waits


class JobQueue:
    """The shared queue of one replica (see the module docstring)."""

    def __init__(
        self,
        url: str,
        store: Store,
        *,
        concurrency: int = 4,
        stalled_after: float = 60.0,
        poll_interval: float = 2.0,
    ) -> None:
        self.url = url
        self.store = store
        self.concurrency = max(1, concurrency)
        self.stalled_after = stalled_after
        self.poll_interval = poll_interval
        self._work: dict[str, Work] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._running: dict[str, int] = {}
        self._idle = threading.Condition()
        self._closed = False
        self._app: procrastinate.App | None = None
        self._tasks: dict[str, Any] = {}
        self._worker: asyncio.Task[None] | None = None

    # --- setup ----------------------------------------------------------------------

    def bind(self, *, scan: Work, cycle: Work) -> None:
        """What a worker does with a job of each kind (the scheduler's own runs)."""
        self._work = {"scan": scan, "cycle": cycle}

    def start(self, timeout: float = 60.0) -> None:
        """Create Procrastinate's tables if needed and start the worker; returns once it
        takes jobs (or raises what stopped it)."""
        self._thread = threading.Thread(target=self._main, name="imagebot-queue", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the job queue did not start within {timeout:.0f}s")
        if self._failed is not None:
            raise self._failed

    def pause(self) -> None:
        """Take no more jobs (shutting down); jobs running here go on. A job that ends
        after this (perhaps cut short at a safe point) is queued again for the others."""
        self._closed = True
        loop, worker = self._loop, self._worker
        if loop is not None and worker is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(worker.cancel)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker and its event loop (after :meth:`pause` and the jobs' end)."""
        self._closed = True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    # --- what the scheduler calls ---------------------------------------------------

    def defer(self, kind: str, key: str, flags: Collection[str] = ()) -> bool:
        """Queue a job of *kind* (``scan`` or ``cycle``) for *key*. False when one is
        waiting already (it will do) or the queue is closed."""
        if self._closed:
            return False
        flags = sorted(flags)
        queueing_lock = f"{kind}:{key}" + (":" + "+".join(flags) if flags else "")
        return bool(self._call(self._defer(kind, key, flags, queueing_lock)))

    def claim(self, key: str, interval: float) -> bool:
        """Whether this replica runs the scheduled *key* now: True for the first timer of
        the fleet to fire in each *interval* (then the next one is due an interval later)."""
        now = time.time()
        with self.store.transaction() as db:
            db.lock("service_claims", key)
            row = db.execute("SELECT due_at FROM service_claims WHERE key = ?", (key,)).fetchone()
            if row is not None and float(row[0]) > now + CLAIM_SLACK * interval:
                return False
            db.execute(
                "INSERT INTO service_claims (key, due_at) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET due_at = excluded.due_at",
                (key, now + interval),
            )
        return True

    def running(self, kind: str) -> list[str]:
        """Keys of *kind* running on this replica."""
        with self._idle:
            return sorted(k[len(kind) + 1 :] for k in self._running if k.startswith(kind + ":"))

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job runs on this replica; False if *timeout* passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._running:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    def stats(self) -> QueueStats:
        """The whole fleet's queue (for /metrics)."""
        rows = self.store.query(
            "SELECT j.task_name, j.status, COUNT(*), "
            "MAX(EXTRACT(EPOCH FROM (now() - COALESCE(j.scheduled_at, e.at)))) "
            "FROM procrastinate_jobs j LEFT JOIN procrastinate_events e "
            "ON e.job_id = j.id AND e.type = 'deferred' "
            "WHERE j.status IN ('todo', 'doing') GROUP BY j.task_name, j.status"
        )
        waiting: dict[str, int] = {}
        running: dict[str, int] = {}
        oldest = 0.0
        for task, status, count, age in rows:
            kind = str(task).rpartition(".")[2]
            if status == "todo":
                waiting[kind] = int(count)
                oldest = max(oldest, float(age or 0.0))
            else:
                running[kind] = int(count)
        return QueueStats(waiting, running, oldest)

    # --- the worker thread ----------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the job queue is not started")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _queue_again(self, kind: str, key: str, flags: list[str]) -> None:
        queueing_lock = f"{kind}:{key}" + (":" + "+".join(flags) if flags else "")
        try:
            self._call(self._defer(kind, key, flags, queueing_lock))
        except Exception as exc:
            log.warning("%s %s: could not queue it again while stopping: %s", kind, key, exc)

    async def _defer(self, kind: str, key: str, flags: list[str], queueing_lock: str) -> bool:
        from procrastinate import exceptions

        task = self._tasks[kind]
        try:
            await task.configure(lock=f"{kind}:{key}", queueing_lock=queueing_lock).defer_async(
                key=key, flags=flags
            )
        except exceptions.AlreadyEnqueued:
            log.debug("%s %s: one is waiting already", kind, key)
            return False
        return True

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            if not self._ready.is_set():
                self._failed = exc
                self._ready.set()
            else:
                log.exception("the job queue stopped")
        finally:
            loop.close()

    async def _serve(self) -> None:
        import procrastinate

        self._stop = asyncio.Event()
        app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=self.url, kwargs={"connect_timeout": 10}, min_size=1, max_size=4
            )
        )
        for kind in ("scan", "cycle"):
            self._tasks[kind] = app.task(name=f"imagebot.{kind}", pass_context=False)(
                self._job_function(kind)
            )
        self._app = app
        async with app.open_async():
            await self._ensure_schema(app)
            worker = asyncio.create_task(
                app.run_worker_async(
                    concurrency=self.concurrency,
                    name="imagebot",
                    wait=True,
                    install_signal_handlers=False,
                    fetch_job_polling_interval=self.poll_interval,
                    update_heartbeat_interval=max(0.5, self.stalled_after / 6),
                    stalled_worker_timeout=self.stalled_after,
                    delete_jobs="successful",
                    shutdown_graceful_timeout=86400.0,  # Service.stop bounds the wait
                )
            )
            self._worker = worker
            reaper = asyncio.create_task(self._reap(app))
            self._ready.set()
            stop = asyncio.create_task(self._stop.wait())
            await asyncio.wait({worker, stop}, return_when=asyncio.FIRST_COMPLETED)
            for task in (worker, reaper, stop):
                task.cancel()
            for task in (worker, reaper, stop):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _ensure_schema(self, app: procrastinate.App) -> None:
        connector = app.connector
        pool = connector.pool  # type: ignore[attr-defined]
        async with pool.connection() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            cursor = await connection.execute("SELECT to_regclass('procrastinate_jobs')")
            row = await cursor.fetchone()
            if row is not None and row[0] is not None:
                return
            schema = app.schema_manager.get_schema()
            await connection.execute(schema)
            log.info("created the job queue's tables")

    def _job_function(self, kind: str) -> Callable[..., None]:
        def run(key: str, flags: list[str]) -> None:
            name = f"{kind}:{key}"
            with self._idle:
                self._running[name] = self._running.get(name, 0) + 1
            try:
                self._work[kind](key, frozenset(flags))
                if self._closed:
                    self._queue_again(kind, key, flags)
            finally:
                with self._idle:
                    self._running[name] -= 1
                    if not self._running[name]:
                        del self._running[name]
                    self._idle.notify_all()

        run.__name__ = f"imagebot_{kind}"
        return run

    async def _reap(self, app: procrastinate.App) -> None:
        """Put the jobs of replicas that stopped sending heartbeats back in the queue."""
        while True:
            await asyncio.sleep(max(0.5, self.stalled_after / 4))
            try:
                stalled = await app.job_manager.get_stalled_jobs(
                    seconds_since_heartbeat=self.stalled_after
                )
            except Exception as exc:
                log.warning("could not look for stalled jobs: %s", exc)
                continue
            for job in stalled:
                await self._requeue(app, job)

    @staticmethod
    async def _requeue(app: procrastinate.App, job: Any) -> None:
        from procrastinate import jobs

        try:
            await app.job_manager.retry_job(job)
            log.warning(
                "job %s (%s) stalled on a stopped replica: queued again", job.id, job.task_name
            )
        except Exception as exc:
            # Another one with its queueing lock waits already (it does the same work), or
            # another replica's reaper took it first.
            log.info("stalled job %s not queued again: %s", job.id, exc)
            with contextlib.suppress(Exception):
                await app.job_manager.finish_job_by_id_async(
                    job.id, status=jobs.Status.FAILED, delete_job=False
                )
