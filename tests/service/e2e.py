"""``imagebot run`` as a real process: start it on a config, talk to its port, stop it.

Used by the end-to-end service tests. Each :class:`BotProcess` is the service started from
``.venv/bin/imagebot`` with its own environment (an isolated Git identity, no
``IMAGEBOT_*`` from the caller); it is stopped by its own handle, never by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.gitops.helpers import isolate_git

IMAGEBOT = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "imagebot")


def wait_until(predicate: Callable[[], object], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def metric(text: str, name: str, **labels: str) -> float | None:
    """The sample *name* with exactly *labels* in exposition *text* (None when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples *name* whose labels include *labels*."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def signed(secret: str, data: Any) -> tuple[bytes, dict[str, str]]:
    """A generic receiver request body and its ``X-Imagebot-Signature`` header."""
    body = json.dumps(data).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Imagebot-Signature": f"sha256={digest}", "Content-Type": "application/json"}


def process_env(home: Path) -> dict[str, str]:
    """A clean environment: the tests' Git identity and PATH, nothing else of the caller's."""
    env = isolate_git(home)
    env["LANG"] = "C.UTF-8"
    return env


@dataclass
class BotProcess:
    """A running ``imagebot run``; stderr (its log) goes to ``log_path``."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=5)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url + path, content=body, headers=headers, timeout=5)

    def metrics(self) -> str:
        return self.get("/metrics").text

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_listening(self, timeout: float = 15) -> None:
        def up() -> bool:
            assert self.alive(), f"imagebot run exited early:\n{self.logs()}"
            try:
                return self.get("/healthz").status_code == 200
            except httpx.TransportError:
                return False

        assert wait_until(up, timeout), f"imagebot run did not listen:\n{self.logs()}"

    def wait_ready(self, timeout: float = 20) -> None:
        self.wait_listening()

        def ready() -> bool:
            assert self.alive(), f"imagebot run exited:\n{self.logs()}"
            return self.get("/readyz").status_code == 200

        assert wait_until(ready, timeout), f"never ready: {self.get('/readyz').text}\n{self.logs()}"

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM; the exit status (the test fails if it takes longer than *timeout*)."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"no exit {timeout}s after SIGTERM:\n{self.logs()}") from None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines (started with ``--log-format json``)."""
        out = []
        for line in self.logs().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


class Launcher:
    """Starts ``imagebot run`` processes and kills any still running at teardown."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = process_env(home)
        self.started: list[BotProcess] = []

    def start(self, config: Path, port: int, *, log_format: str = "human") -> BotProcess:
        log_path = config.with_name(f"{config.stem}-{len(self.started)}.log")
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [IMAGEBOT, "--log-format", log_format, "run", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=self.env,
                cwd=config.parent,
            )
        bot = BotProcess(process, port, log_path)
        self.started.append(bot)
        return bot

    @staticmethod
    def kill_pod(bot: BotProcess) -> None:
        """SIGKILL the process and all its descendants at once, as a pod's end does (git
        runs in sessions of its own, so its process group alone would leave pushes going):
        each is stopped as it is found, so none starts another, then all are killed."""
        tree = [bot.process.pid]
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
            tree += [child for child in _children(pid) if child not in tree]
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        bot.process.wait()

    def close(self) -> None:
        for bot in self.started:
            bot.kill()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def write_config(
    path: Path,
    *,
    state: Path,
    port: int,
    repositories: list[dict[str, Any]],
    interval: str = "1h",
    cycle_interval: str = "1h",
    tag_cache_ttl: str = "1h",
    shutdown_timeout: str = "10s",
    webhooks: dict[str, Any] | None = None,
    registries: dict[str, Any] | None = None,
) -> Path:
    """The YAML config of a service on 127.0.0.1:*port* (JSON is YAML)."""
    data: dict[str, Any] = {
        "state_dir": str(state),
        "tag_cache_ttl": tag_cache_ttl,
        "repositories": repositories,
        "service": {
            "listen": f"127.0.0.1:{port}",
            "interval": interval,
            "cycle_interval": cycle_interval,
            "jitter": "0s",
            "shutdown_timeout": shutdown_timeout,
            "webhooks": webhooks or {},
        },
    }
    if registries:
        data["registries"] = registries
    path.write_text(json.dumps(data, indent=2))
    return path


# --- a notification target -------------------------------------------------------------


@dataclass
class Sink:
    """Records the JSON bodies POSTed to it, by path."""

    url: str = ""
    received: list[tuple[str, Any]] = field(default_factory=list)


@contextmanager
def recording_sink() -> Iterator[Sink]:
    sink = Sink()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                sink.received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
