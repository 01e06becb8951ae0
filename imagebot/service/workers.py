"""Bounded worker pools and per-key coalescing of triggers.

Work runs on daemon threads that this module owns, not on ``concurrent.futures`` pools:
those threads are joined at interpreter exit, so one registry request hanging past the
shutdown timeout would keep the process alive. A daemon thread is abandoned instead, which is
safe because the update cycle only stops at points where abandoning it loses nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class WorkerPool:
    """*size* daemon threads running submitted callables in order of submission."""

    def __init__(self, name: str, size: int) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one thread")
        self.name = name
        self._queue: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[], object]) -> None:
        self._queue.put(fn)

    def close(self) -> None:
        """Let the threads end once the queue is drained (does not wait)."""
        for _ in self._threads:
            self._queue.put(None)  # stop

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                item()
            except Exception:  # the callables handle their errors; this is a last resort
                log.exception("unexpected error in %s worker", self.name)


@dataclass
class _Slot:
    queued: bool = False
    running: bool = False
    again: bool = False
    flags: set[str] = field(default_factory=set)


class Coalescer:
    """At most one run per key at a time; triggers arriving meanwhile become one more run.

    ``trigger(key)`` while the key is idle queues a run. While a run is queued, further
    triggers join it. While it runs, any number of triggers cause exactly one more run after
    it. Flags passed to triggers are merged into the next run's flag set (e.g. ``fresh``).
    """

    def __init__(
        self,
        run: Callable[[str, frozenset[str]], None],
        pool_for: Callable[[str], WorkerPool],
    ) -> None:
        self._run = run
        self._pool_for = pool_for
        self._lock = threading.Condition()
        self._slots: dict[str, _Slot] = {}
        self._closed = False

    def trigger(self, key: str, *flags: str) -> bool:
        """Ask for a run of *key*; False when closed (shutting down)."""
        with self._lock:
            if self._closed:
                return False
            slot = self._slots.setdefault(key, _Slot())
            slot.flags.update(flags)
            if slot.queued:
                return True
            if slot.running:
                slot.again = True
                return True
            slot.queued = True
        self._pool_for(key).submit(lambda: self._execute(key))
        return True

    def running(self) -> list[str]:
        with self._lock:
            return sorted(k for k, s in self._slots.items() if s.running)

    def busy(self, key: str) -> bool:
        with self._lock:
            slot = self._slots.get(key)
            return bool(slot and (slot.queued or slot.running))

    def close(self) -> None:
        """Refuse new triggers and drop queued and repeat runs; runs in progress go on."""
        with self._lock:
            self._closed = True
            for slot in self._slots.values():
                slot.again = False
            self._lock.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is queued or running; False if *timeout* passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while any(s.running or (s.queued and not self._closed) for s in self._slots.values()):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def _execute(self, key: str) -> None:
        with self._lock:
            slot = self._slots[key]
            slot.queued = False
            if self._closed:
                self._lock.notify_all()
                return
            slot.running = True
            flags = frozenset(slot.flags)
            slot.flags = set()
        try:
            self._run(key, flags)
        except Exception:
            log.exception("unexpected error running %s", key)
        finally:
            with self._lock:
                slot.running = False
                again = slot.again and not self._closed
                slot.again = False
                if again:
                    slot.queued = True
                self._lock.notify_all()
            if again:
                self._pool_for(key).submit(lambda: self._execute(key))
