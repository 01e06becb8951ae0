"""``imagebot run`` as the real process: SIGTERM at any moment, readiness after a failed
first sync, and the shipped way of passing global options.

"Started" is observable from outside: the process has a SIGTERM handler (``SigCgt`` in
``/proc/<pid>/status``), which ``imagebot``'s entry point installs before anything else, so
the tests send SIGTERM from that moment on, at delays covering start-up (imports, config,
store, first clone) and steady state.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gitops.helpers import make_remote
from tests.harness import free_port
from tests.service.e2e import IMAGEBOT, Launcher, wait_until, write_config
from tests.update.helpers import automated, deployment

pytestmark = pytest.mark.slow


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launch = Launcher(tmp_path / "home")
    yield launch
    launch.close()


def catches_sigterm(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def fleet_config(tmp_path: Path, port: int, url: str | None = None) -> Path:
    if url is None:
        files = {"apps/web.yaml": deployment("web", "nginx:1.0", annotations=automated("glob:*"))}
        url = make_remote(tmp_path / "remote", files).url
    return write_config(
        tmp_path / "imagebot.yaml",
        state=tmp_path / "state",
        port=port,
        repositories=[{"url": url, "name": "fleet", "branch": "main"}],
    )


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.35, 0.5, 0.8, 1.2])
def test_run_exits_0_on_sigterm_at_any_moment_after_it_starts(
    tmp_path: Path, launcher: Launcher, delay: float
) -> None:
    bot = launcher.start(fleet_config(tmp_path, free_port()), 0)
    assert wait_until(lambda: catches_sigterm(bot.process.pid), 10, step=0.001), bot.logs()
    time.sleep(delay)
    bot.process.send_signal(signal.SIGTERM)
    assert bot.process.wait(60) == 0, bot.logs()


def test_sigterm_to_another_command_still_ends_it_at_once(
    tmp_path: Path, launcher: Launcher
) -> None:
    # Only the service takes SIGTERM as "stop cleanly"; a one-shot command ends as before.
    process = subprocess.Popen(
        [IMAGEBOT, "completion", "bash"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=launcher.env,
    )
    assert wait_until(lambda: catches_sigterm(process.pid) or process.poll() is not None, 10)
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) in (0, -signal.SIGTERM)


def test_readyz_is_not_ready_while_the_first_sync_has_failed_and_says_why(
    tmp_path: Path, launcher: Launcher
) -> None:
    port = free_port()
    missing = (tmp_path / "no-such-remote.git").as_uri()
    bot = launcher.start(fleet_config(tmp_path, port, url=missing), port)
    bot.wait_listening()

    def failed() -> dict[str, object] | None:
        answer = httpx.get(f"{bot.url}/readyz", timeout=5)
        body = answer.json()
        return body if "first_sync_failed" in body.get("details", {}) else None

    assert wait_until(failed, 20), httpx.get(f"{bot.url}/readyz").text
    answer = httpx.get(f"{bot.url}/readyz", timeout=5)
    assert answer.status_code == 503
    assert answer.json()["checks"]["first_sync_done"] is False
    assert "fleet" in answer.json()["details"]["first_sync_failed"]
    assert "no-such-remote" in answer.json()["details"]["first_sync_failed"]
    assert bot.terminate() == 0


def test_readyz_is_ready_once_the_first_sync_succeeds(tmp_path: Path, launcher: Launcher) -> None:
    port = free_port()
    bot = launcher.start(fleet_config(tmp_path, port), port)
    bot.wait_ready()
    assert "first_sync_failed" not in httpx.get(f"{bot.url}/readyz").json().get("details", {})
    assert bot.terminate() == 0


def test_global_options_after_the_subcommand_start_the_service(
    tmp_path: Path, launcher: Launcher
) -> None:
    # deploy/deployment.yaml passes `run --log-format json`, as kubectl users write it.
    port = free_port()
    config = fleet_config(tmp_path, port)
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [IMAGEBOT, "run", "--log-format", "json", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=launcher.env,
        )
    try:
        assert wait_until(lambda: b'"listening on' in log_path.read_bytes(), 15), (
            log_path.read_text()
        )
        first = log_path.read_text().splitlines()[0]
        assert first.startswith("{"), first
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError(log_path.read_text()) from None
        assert status == 0, log_path.read_text()
