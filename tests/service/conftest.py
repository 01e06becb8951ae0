"""Fixtures for service tests: a recording HTTP sink, fake scan/cycle work, and helpers.

Everything listens on 127.0.0.1 with a free port; nothing leaves the machine.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from imagebot.config import (
    Config,
    Duration,
    RepositoryConfig,
    ServiceConfig,
)
from imagebot.service.types import CycleOutcome, ScanOutcome


def wait_for(predicate: Callable[[], object], timeout: float = 5.0, step: float = 0.01) -> bool:
    """Poll *predicate* until true or *timeout*; returns its last truthiness."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


# --- a real HTTP server that records what it receives ----------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Sink:
    """Records POSTs; answers with the next status from ``statuses`` (then 200)."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def wait(self, count: int, timeout: float = 5.0) -> list[Received]:
        assert wait_for(lambda: len(self.received) >= count, timeout), (
            f"expected {count} requests, got {len(self.received)}"
        )
        return self.received


@pytest.fixture
def sink() -> Iterator[Sink]:
    state = Sink(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with lock:
                status = state.statuses.pop(0) if state.statuses else 200
                state.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


# --- fake work -------------------------------------------------------------------------


@dataclass
class FakeWork:
    """Plain-Python stand-ins for the scanner and the update cycle.

    ``new_tags[image]`` is a list of tuples handed out one per scan (then no new tags);
    ``cycle_steps``/``step_seconds`` make a cycle slow; it checks *cancel* between steps the
    way the real cycle must. With ``step_gate`` each step waits until the test sets it, so a
    test can hold a cycle in flight for as long as it needs, on a machine of any speed.
    """

    images: dict[str, list[str]] = field(default_factory=dict)
    new_tags: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    scan_delay: dict[str, threading.Event] = field(default_factory=dict)
    cycle_steps: int = 1
    step_seconds: float = 0.0
    step_gate: threading.Event | None = None
    cycle_result: Callable[[RepositoryConfig, int], CycleOutcome] | None = None
    scans: list[tuple[str, bool, float]] = field(default_factory=list)
    cycles: list[tuple[str, float]] = field(default_factory=list)
    cycle_ends: list[tuple[str, float, bool]] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def scan_images(
        self, repositories: list[str], *, fresh: bool = False
    ) -> dict[str, ScanOutcome]:
        out = {}
        for image in repositories:
            gate = self.scan_delay.get(image)
            if gate is not None:
                gate.wait(10)
            with self._lock:
                self.scans.append((image, fresh, time.monotonic()))
                queue = self.new_tags.get(image) or []
                new = queue.pop(0) if queue else ()
            out[image] = ScanOutcome(image, tag_count=5, new_tags=new)
        return out

    def run_cycle(self, repo: RepositoryConfig, cancel: threading.Event) -> CycleOutcome:
        name = repo.display_name
        with self._lock:
            self.cycles.append((name, time.monotonic()))
            number = sum(1 for n, _ in self.cycles if n == name)
            self.in_flight[name] = self.in_flight.get(name, 0) + 1
            self.max_in_flight[name] = max(self.max_in_flight.get(name, 0), self.in_flight[name])
        try:
            for _ in range(self.cycle_steps):
                if cancel.is_set():
                    with self._lock:
                        self.cycle_ends.append((name, time.monotonic(), False))
                    return CycleOutcome(name, completed=False)
                if self.step_gate is not None:
                    self.step_gate.wait(30)
                else:
                    time.sleep(self.step_seconds)
            with self._lock:
                self.cycle_ends.append((name, time.monotonic(), True))
            if self.cycle_result is not None:
                return self.cycle_result(repo, number)
            return CycleOutcome(name)
        finally:
            with self._lock:
                self.in_flight[name] -= 1

    def images_for(self, repo: RepositoryConfig) -> list[str]:
        return self.images.get(repo.display_name, [])

    def cycle_count(self, name: str) -> int:
        with self._lock:
            return sum(1 for n, _ in self.cycles if n == name)

    def scans_of(self, image: str) -> list[tuple[str, bool, float]]:
        with self._lock:
            return [s for s in self.scans if s[0] == image]


@pytest.fixture
def work() -> FakeWork:
    return FakeWork()


def make_config(
    *repos: str,
    listen: str = "127.0.0.1:0",
    interval: float = 60,
    cycle_interval: float = 60,
    jitter: float = 0,
    **service: Any,
) -> Config:
    """A Config with repositories named *repos* and fast service settings."""
    settings = ServiceConfig(
        listen=listen,
        interval=Duration(interval),
        cycle_interval=Duration(cycle_interval),
        jitter=Duration(jitter),
        **service,
    )
    repositories = [RepositoryConfig(url=f"file:///tmp/{name}.git", name=name) for name in repos]
    return Config(repositories=repositories, service=settings)


@pytest.fixture
def start_service(work: FakeWork) -> Iterator[Callable[..., Any]]:
    """``start_service(config, **overrides)`` -> a started Service wired to ``work``;
    stopped at teardown."""
    from imagebot.service.app import Service

    started: list[Service] = []

    def start(config: Config, **overrides: Any) -> Service:
        kwargs: dict[str, Any] = {
            "scan_images": work.scan_images,
            "run_cycle": work.run_cycle,
            "images_for": work.images_for,
        }
        kwargs.update(overrides)
        service = Service(config, **kwargs)
        service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop(timeout=5)
