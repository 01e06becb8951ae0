"""The assembled service: readiness, webhook to cycle, reporting, and shutdown."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from imagebot.config import (
    Config,
    Duration,
    NotifyConfig,
    RepositoryConfig,
    WebhookReceiverConfig,
)
from imagebot.service.app import Service
from imagebot.service.types import AppliedUpdate, CycleOutcome, Failure

from .conftest import FakeWork, Sink, make_config, wait_for
from .test_metrics import value

SECRET = "service-hook-secret"
UPDATE = AppliedUpdate("Deployment default/web", "app", "docker.io/library/nginx", "1.0", "1.1")
StartService = Callable[..., Service]


def with_webhook(config: Config) -> Config:
    service = config.service
    hooks = {"gh": WebhookReceiverConfig(type="github", secret=SECRET)}
    return Config(
        repositories=config.repositories,
        service=type(service)(**{**service.__dict__, "webhooks": hooks}),
    )


def github_push(image_name: str, tag: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "action": "published",
            "package": {
                "name": image_name,
                "package_type": "CONTAINER",
                "owner": {"login": "org"},
                "package_version": {"container_metadata": {"tag": {"name": tag}}},
            },
        }
    ).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-GitHub-Event": "package", "X-Hub-Signature-256": signature}


def test_ready_only_after_the_first_sync(start_service: StartService, work: FakeWork) -> None:
    gate = threading.Event()
    original = work.run_cycle

    def gated(repo: RepositoryConfig, cancel: threading.Event) -> CycleOutcome:
        gate.wait(5)
        return original(repo, cancel)

    service = start_service(make_config("web"), run_cycle=gated)
    response = httpx.get(f"{service.url}/readyz")
    assert response.status_code == 503
    assert response.json()["details"] == {"first_sync_pending": "web"}
    assert httpx.get(f"{service.url}/healthz").status_code == 200
    gate.set()
    assert wait_for(lambda: httpx.get(f"{service.url}/readyz").status_code == 200)


def test_not_ready_while_the_store_is_closed(start_service: StartService, work: FakeWork) -> None:
    service = start_service(make_config("web"), store_ready=lambda: False)
    assert wait_for(lambda: service.scheduler.first_sync_done)
    response = httpx.get(f"{service.url}/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["store_open"] is False


def test_a_signed_webhook_leads_to_a_cycle_within_a_second(
    start_service: StartService, work: FakeWork
) -> None:
    work.images = {"web": ["ghcr.io/org/app"]}
    config = with_webhook(make_config("web", interval=3600, cycle_interval=3600))
    service = start_service(config)
    assert wait_for(lambda: service.scheduler.first_sync_done)
    body, headers = github_push("app", "2.0.0")
    started = time.monotonic()
    response = httpx.post(f"{service.url}/hooks/gh", content=body, headers=headers)
    assert response.status_code == 202
    assert response.json()["matched"] == ["ghcr.io/org/app"]
    assert wait_for(lambda: work.cycle_count("web") == 2, timeout=2)
    assert time.monotonic() - started < 1.0
    assert work.scans_of("ghcr.io/org/app")[0][1] is True  # fresh: the tag cache is bypassed


def test_an_unsigned_webhook_is_refused_and_triggers_nothing(
    start_service: StartService, work: FakeWork
) -> None:
    work.images = {"web": ["ghcr.io/org/app"]}
    config = with_webhook(make_config("web", interval=3600, cycle_interval=3600))
    service = start_service(config)
    assert wait_for(lambda: service.scheduler.first_sync_done)
    body, headers = github_push("app", "2.0.0")
    del headers["X-Hub-Signature-256"]
    assert httpx.post(f"{service.url}/hooks/gh", content=body, headers=headers).status_code == 401
    headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    assert httpx.post(f"{service.url}/hooks/gh", content=body, headers=headers).status_code == 403
    time.sleep(0.2)
    assert work.scans == []
    assert work.cycle_count("web") == 1
    text = httpx.get(f"{service.url}/metrics").text
    assert value(text, "imagebot_webhook_requests_total", receiver="gh", code="401") == 1
    assert value(text, "imagebot_webhook_requests_total", receiver="gh", code="403") == 1


def test_applied_updates_are_counted_logged_and_notified(
    start_service: StartService, work: FakeWork, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    work.cycle_result = lambda repo, n: CycleOutcome(
        repo.display_name, applied=(UPDATE,), commit="feedfacecafe0000"
    )
    repo = RepositoryConfig(
        url="file:///tmp/web.git", name="web", notify=[NotifyConfig(type="webhook", url=sink.url)]
    )
    config = Config(repositories=[repo], service=make_config().service)
    with caplog.at_level(logging.INFO, logger="imagebot.service"):
        service = start_service(config)
        payload = sink.wait(1)[0].json()
    assert payload["event"] == "update"
    assert payload["updates"][0]["new_tag"] == "1.1"
    text = httpx.get(f"{service.url}/metrics").text
    assert value(text, "imagebot_updates_applied_total", repository="web") == 1
    assert value(text, "imagebot_cycles_total", repository="web", result="ok") == 1
    assert value(text, "imagebot_last_successful_cycle_timestamp_seconds", repository="web")
    (record,) = [r for r in caplog.records if getattr(r, "new_tag", None)]
    assert (record.repo, record.workload, record.container) == ("web", UPDATE.workload, "app")
    assert (record.old_tag, record.new_tag) == ("1.0", "1.1")


def test_a_failure_persisting_across_cycles_is_notified_once(
    start_service: StartService, work: FakeWork, sink: Sink
) -> None:
    failure = Failure("push_rejected", "push", "the remote branch moved")
    work.cycle_result = lambda repo, n: CycleOutcome(repo.display_name, failures=(failure,))
    repo = RepositoryConfig(
        url="file:///tmp/web.git",
        name="web",
        interval=Duration(0.1),
        notify=[NotifyConfig(type="slack", url=sink.url, on=["failure"])],
    )
    config = Config(repositories=[repo], service=make_config().service)
    service = start_service(config)
    assert wait_for(lambda: work.cycle_count("web") >= 5, timeout=3)
    (message,) = sink.wait(1)
    assert message.json()["text"] == "imagebot: 1 failure in web for 2 consecutive cycles"
    text = httpx.get(f"{service.url}/metrics").text
    assert value(text, "imagebot_failures_total", kind="push_rejected") >= 5
    assert value(text, "imagebot_cycles_total", repository="web", result="failed") >= 5


def test_stop_lets_a_slow_cycle_stop_at_a_step_boundary(
    start_service: StartService, work: FakeWork
) -> None:
    work.cycle_steps, work.step_seconds = 100, 0.05  # 5 s if left alone
    service = start_service(make_config("web", shutdown_timeout=Duration(3)))
    assert wait_for(lambda: work.in_flight.get("web") == 1)
    # True: the cycle ended within the 3 s allowed, so it did not run its 5 s of steps; and
    # it ended cancelled (False), between two steps. No wall-clock bound: load can't fail it.
    assert service.stop() is True
    assert work.cycle_ends == [("web", work.cycle_ends[0][1], False)]
    assert work.in_flight["web"] == 0


def test_stop_gives_up_on_a_cycle_that_overruns_the_timeout(
    start_service: StartService, work: FakeWork
) -> None:
    # a step that ignores cancel until the test lets it go: held for as long as stop() takes
    work.cycle_steps, work.step_gate = 2, threading.Event()
    service = start_service(make_config("web"))
    assert wait_for(lambda: work.in_flight.get("web") == 1)
    assert service.stop(timeout=0.3) is False
    assert work.in_flight["web"] == 1  # it gave up waiting; the cycle is still in its step
    work.step_gate.set()
    assert wait_for(lambda: work.in_flight["web"] == 0)
    assert work.cycle_ends == [("web", work.cycle_ends[0][1], False)]


def test_while_stopping_webhooks_get_503_and_readyz_503(
    start_service: StartService, work: FakeWork
) -> None:
    # The cycle in flight keeps the service stopping until the two requests below are done.
    work.cycle_steps, work.step_gate = 1, threading.Event()
    work.images = {"web": ["ghcr.io/org/app"]}
    service = start_service(with_webhook(make_config("web")))
    assert wait_for(lambda: work.in_flight.get("web") == 1)
    stopper = threading.Thread(target=service.stop, kwargs={"timeout": 5})
    stopper.start()
    try:
        assert wait_for(lambda: service.readiness().stopping)
        body, headers = github_push("app", "2.0.0")
        assert (
            httpx.post(f"{service.url}/hooks/gh", content=body, headers=headers).status_code == 503
        )
        assert httpx.get(f"{service.url}/readyz").status_code == 503
    finally:
        work.step_gate.set()
        stopper.join()


def test_run_forever_returns_0_on_sigterm(work: FakeWork) -> None:
    service = Service(
        make_config("web"),
        scan_images=work.scan_images,
        run_cycle=work.run_cycle,
        images_for=work.images_for,
    )
    previous = signal.getsignal(signal.SIGTERM)

    def send_sigterm() -> None:
        wait_for(lambda: service.scheduler.first_sync_done)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=send_sigterm, daemon=True).start()
    assert service.run_forever() == 0
    assert signal.getsignal(signal.SIGTERM) is previous
    assert work.cycle_count("web") == 1


def test_sigterm_stops_the_process_with_status_0_at_a_safe_point(tmp_path: Path) -> None:
    config = tmp_path / "imagebot.yaml"
    config.write_text(
        "service:\n  listen: 127.0.0.1:0\n  shutdown_timeout: 5s\n  jitter: 0\n"
        "repositories:\n  - url: file:///tmp/web.git\n    name: web\n"
    )
    journal = tmp_path / "journal"
    journal.touch()
    script = Path(__file__).with_name("service_main.py")
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, str(script), str(config), str(journal)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(lambda: "step 3" in journal.read_text(), timeout=15), process.stderr
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=10)
    finally:
        process.kill()
        stderr = process.stderr.read().decode() if process.stderr else ""
    lines = journal.read_text().splitlines()
    assert status == 0, stderr
    assert lines[-2].startswith("stopped before step"), lines
    assert lines[-1] == "exit 0"
    assert "finished" not in lines
    assert '"message": "received SIGTERM, shutting down"' in stderr


def test_logs_of_a_running_service_do_not_show_webhook_tokens(
    start_service: StartService, work: FakeWork, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config("web")
    hooks = {"hub": WebhookReceiverConfig(type="dockerhub", secret="dockerhub-url-token-1")}
    config = Config(
        repositories=config.repositories,
        service=type(config.service)(**{**config.service.__dict__, "webhooks": hooks}),
    )
    service = start_service(config)
    with caplog.at_level(logging.DEBUG, logger="imagebot"):
        httpx.post(f"{service.url}/hooks/hub?token=dockerhub-url-token-1", content=b"{}")
        logging.getLogger("imagebot.test").warning("echo dockerhub-url-token-1")
    assert caplog.records
    for record in caplog.records:
        assert "dockerhub-url-token-1" not in record.getMessage()


def test_a_cycles_registry_time_and_cpu_time_reach_the_metrics(
    start_service: StartService, work: FakeWork
) -> None:
    work.cycle_result = lambda repo, n: CycleOutcome(
        repo.display_name, registry_seconds=1.5, cpu_seconds=0.25
    )
    service = start_service(make_config("web"))

    def counted() -> tuple[float, float]:
        text = httpx.get(f"{service.url}/metrics").text
        registry = value(text, "imagebot_cycle_registry_seconds_total", repository="web")
        cpu = value(text, "imagebot_cycle_cpu_seconds_total", repository="web")
        return registry or 0.0, cpu or 0.0

    assert wait_for(lambda: min(counted()) > 0)
    registry, cpu = counted()
    assert registry % 1.5 == 0  # whole cycles' worth (the service may have run more than one)
    assert cpu % 0.25 == 0
