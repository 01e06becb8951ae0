"""``imagebot run`` end to end: the real process, a real registry, a bare Git remote.

Scenarios that take a few seconds run once per module (a fixture drives the service
through them and records what happened); each test then checks one behaviour of it.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagebot.store import STORE_FILE, Store
from tests.gitops.helpers import Remote, git, make_remote, use_isolated_git
from tests.harness import READER_PASSWORD, LoopbackProxy, RegistryServer, free_port
from tests.update.helpers import automated, deployment

from .e2e import (
    IMAGEBOT,
    BotProcess,
    Launcher,
    metric,
    metric_sum,
    recording_sink,
    signed,
    wait_until,
    write_config,
)
from .test_registry_notifications import push_image
from .test_registry_notifications import start_registry as start_notifying_registry

pytestmark = pytest.mark.slow

WEB = "apps:deployment/web"
HOOK_SECRET = "generic-hook-secret-0f3a"
REGISTRY_HOOK_SECRET = "registry-hook-secret-77c1"
NOTIFY_PATH = "/notify/T000-secret-path-9d2e"
READER_PASSWORD_ENV = "E2E_READER_PASSWORD"


@pytest.fixture(scope="module", autouse=True)
def _isolated_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        use_isolated_git(patch, tmp_path_factory.mktemp("git-home"))
        yield


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launch = Launcher(tmp_path / "home")
    yield launch
    launch.close()


def fleet(where: Path, web: str, *, api: str | None = None, api_locked: bool = False) -> Remote:
    """A bare remote with an automated web Deployment (semver:~1.0) and optionally an api."""
    files = {"apps/web.yaml": deployment("web", web, annotations=automated("semver:~1.0"))}
    if api is not None:
        notes = automated("semver:~1.0")
        if api_locked:
            notes["imagebot.io/locked"] = "true"
        files["apps/api.yaml"] = deployment("api", api, annotations=notes)
    where.mkdir(parents=True, exist_ok=True)
    return make_remote(where, files)


def repository(remote: Remote, **extra: Any) -> dict[str, Any]:
    return {"url": remote.url, "name": "fleet", "branch": "main", **extra}


def image_line(remote: Remote, path: str = "apps/web.yaml") -> str:
    return next(
        line.strip() for line in remote.read(path).decode().splitlines() if "image:" in line
    )


def changed_lines(remote: Remote, commit: str) -> list[str]:
    diff = git(remote.path, "show", "--format=", "--unified=0", commit)
    return [
        line
        for line in diff.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]


def assert_consistent(remote: Remote) -> None:
    """No corrupt object, and main only ever moved forward (no partial or forced update)."""
    fsck = subprocess.run(
        ["git", "fsck", "--strict", "--no-dangling"], cwd=remote.path, capture_output=True
    )
    assert fsck.returncode == 0, fsck.stderr.decode()
    for old, new in remote.ref_updates():
        if set(old) != {"0"}:
            assert remote.is_ancestor(old, new), f"main moved from {old} to {new} by force"


# --- polling: a new tag, seen on the schedule ------------------------------------------


@dataclass
class Polled:
    bot: BotProcess
    remote: Remote
    image: str
    host: str
    interval: float
    before: str
    before_count: int
    ready: dict[str, Any]
    pushed_at: float = 0.0
    committed_at: float = 0.0
    wall_start: float = 0.0
    wall_end: float = 0.0
    metrics: str = ""
    notifications: list[tuple[str, Any]] = field(default_factory=list)
    stop_seconds: float = 0.0
    exit_code: int | None = None


@pytest.fixture(scope="module")
def polled(
    tmp_path_factory: pytest.TempPathFactory, basic_registry: RegistryServer
) -> Iterator[Polled]:
    """The service polls an authenticated registry every second; a tag is pushed."""
    tmp = tmp_path_factory.mktemp("polled")
    image = f"{basic_registry.host}/service-e2e/polled"
    basic_registry.push("service-e2e/polled", ["1.0.0"])
    remote = fleet(tmp / "git", f"{image}:1.0.0", api=f"{image}:1.0.0", api_locked=True)
    launcher = Launcher(tmp / "home")
    launcher.env[READER_PASSWORD_ENV] = basic_registry.users["reader"]
    with recording_sink() as sink:
        port = free_port()
        config = write_config(
            tmp / "imagebot.yaml",
            state=tmp / "state",
            port=port,
            interval="1s",
            repositories=[
                repository(remote, notify=[{"type": "webhook", "url": sink.url + NOTIFY_PATH}])
            ],
            webhooks={"generic": {"type": "generic", "secret": HOOK_SECRET}},
            registries={
                basic_registry.host: {"username": "reader", "password_env": READER_PASSWORD_ENV}
            },
        )
        try:
            wall_start = time.time()
            bot = launcher.start(config, port, log_format="json")
            bot.wait_ready()
            state = Polled(
                bot,
                remote,
                image,
                basic_registry.host,
                1.0,
                remote.tip() or "",
                remote.count(),
                bot.get("/readyz").json(),
                wall_start=wall_start,
            )
            state.pushed_at = time.monotonic()
            basic_registry.push("service-e2e/polled", ["1.0.1"])
            assert wait_until(lambda: remote.tip() != state.before, 15), bot.logs()
            state.committed_at = time.monotonic()
            assert wait_until(lambda: sink.received, 10), bot.logs()
            state.notifications = list(sink.received)
            state.metrics = bot.metrics()
            state.wall_end = time.time()
            stopping = time.monotonic()
            state.exit_code = bot.terminate()
            state.stop_seconds = time.monotonic() - stopping
            yield state
        finally:
            launcher.close()


def test_a_new_tag_in_the_registry_becomes_one_commit_within_the_interval(polled: Polled):
    took = polled.committed_at - polled.pushed_at
    assert took < polled.interval + 4, f"commit {took:.1f}s after the push"
    assert polled.remote.count() == polled.before_count + 1
    commit = polled.remote.tip() or ""
    assert changed_lines(polled.remote, commit) == [
        f"-          image: {polled.image}:1.0.0   # the app",
        f"+          image: {polled.image}:1.0.1   # the app",
    ]
    assert image_line(polled.remote, "apps/api.yaml") == f"image: {polled.image}:1.0.0   # the app"


def test_readyz_is_ready_once_the_first_sync_is_done(polled: Polled):
    assert polled.ready == {
        "ready": True,
        "checks": {"config_loaded": True, "store_open": True, "first_sync_done": True},
    }


def test_metrics_count_scans_requests_updates_and_the_last_successful_cycle(polled: Polled):
    text, host = polled.metrics, polled.host
    assert (metric(text, "imagebot_scans_total", host=host, result="ok") or 0) >= 1
    assert metric(text, "imagebot_scans_total", host=host, result="failed") is None
    assert (metric(text, "imagebot_registry_requests_total", host=host, status="200") or 0) >= 2
    assert metric_sum(text, "imagebot_registry_requests_total", status="error") == 0
    assert metric(text, "imagebot_updates_applied_total", repository="fleet") == 1
    assert (metric(text, "imagebot_cycles_total", repository="fleet", result="ok") or 0) >= 2
    assert metric(text, "imagebot_new_tags_total", image=polled.image) == 1
    assert metric(text, "imagebot_image_tags", image=polled.image) == 2
    last = metric(text, "imagebot_last_successful_cycle_timestamp_seconds", repository="fleet")
    assert last is not None
    assert polled.wall_start <= last <= polled.wall_end


def test_a_locked_workload_with_a_newer_tag_counts_as_blocked(polled: Polled):
    text = polled.metrics
    assert metric(text, "imagebot_workloads_blocked", repository="fleet", reason="locked") == 1
    assert metric(text, "imagebot_workloads_blocked", repository="fleet", reason="failing") == 0


def test_an_applied_update_is_notified_to_the_generic_json_webhook(polled: Polled):
    [(path, note)] = polled.notifications
    assert path == NOTIFY_PATH
    assert note["event"] == "update"
    assert note["repository"] == "fleet"
    assert note["commit"] == polled.remote.tip()
    assert note["updates"] == [
        {
            "workload": WEB,
            "container": "app",
            "image": polled.image,
            "old_tag": "1.0.0",
            "new_tag": "1.0.1",
            "file": "apps/web.yaml",
        }
    ]


def test_json_update_lines_name_repo_workload_container_and_both_tags(polled: Polled):
    lines = [r for r in polled.bot.records() if r.get("new_tag") == "1.0.1"]
    assert lines, polled.bot.logs()
    for line in lines:
        assert line["repo"] == "fleet"
        assert line["workload"] == WEB
        assert line["container"] == "app"
        assert line["old_tag"] == "1.0.0"
        assert "1.0.1" in line["message"]
        assert WEB in line["message"]
    assert any(line.get("image") == polled.image for line in lines)


def test_no_credential_appears_in_logs_or_commits(polled: Polled):
    logs = polled.bot.logs()
    history = git(polled.remote.path, "log", "--format=%B%n%an %ae")
    for secret in (READER_PASSWORD, HOOK_SECRET, NOTIFY_PATH.rsplit("/", 1)[1]):
        assert secret not in logs
        assert secret not in history


def test_sigterm_when_idle_exits_zero_promptly(polled: Polled):
    assert polled.exit_code == 0
    assert polled.stop_seconds < 5
    assert "received SIGTERM" in polled.bot.logs()


# --- webhooks: the long interval never fires, the hook does ----------------------------


@dataclass
class Hooked:
    bot: BotProcess
    remote: Remote
    web_image: str
    api_image: str
    refused: list[int] = field(default_factory=list)
    refused_work: dict[str, float] = field(default_factory=dict)
    refused_tip_moved: bool = False
    generic_status: int = 0
    generic_seconds: float = 0.0
    notification_seconds: float = 0.0
    metrics: str = ""
    exit_code: int | None = None


def _work_done(bot: BotProcess) -> dict[str, float]:
    text = bot.metrics()
    return {
        "scans": metric_sum(text, "imagebot_scans_total"),
        "cycles": metric_sum(text, "imagebot_cycles_total"),
    }


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory, registry: RegistryServer) -> Iterator[Hooked]:
    """Intervals of an hour; a generic receiver and a real registry's notifications."""
    tmp = tmp_path_factory.mktemp("hooked")
    port = free_port()
    notifier, notifying_url = start_notifying_registry(
        tmp, f"http://127.0.0.1:{port}/hooks/registry", REGISTRY_HOOK_SECRET
    )
    launcher = Launcher(tmp / "home")
    try:
        web_image = f"{registry.host}/service-e2e/hooked"
        api_image = f"{notifying_url.removeprefix('http://')}/team/api"
        registry.push("service-e2e/hooked", ["1.0.0"])
        with httpx.Client(timeout=5) as client:
            push_image(client, notifying_url, "team/api", "1.0.0")
        remote = fleet(tmp / "git", f"{web_image}:1.0.0", api=f"{api_image}:1.0.0")
        config = write_config(
            tmp / "imagebot.yaml",
            state=tmp / "state",
            port=port,
            repositories=[repository(remote)],
            webhooks={
                "generic": {"type": "generic", "secret": HOOK_SECRET},
                "registry": {"type": "distribution", "secret": REGISTRY_HOOK_SECRET},
            },
        )
        bot = launcher.start(config, port)
        bot.wait_ready()
        state = Hooked(bot, remote, web_image, api_image)
        # The registry's notification of the 1.0.0 push waited for the port: let it land.
        accepted = 'imagebot_webhook_requests_total{code="202",receiver="registry"}'
        assert wait_until(lambda: accepted in bot.metrics(), 15), bot.logs()
        assert wait_until(lambda: _settled(bot), 10)

        registry.push("service-e2e/hooked", ["1.0.1"])
        tip = remote.tip()
        before = _work_done(bot)
        body, good = signed(HOOK_SECRET, {"image": web_image, "tag": "1.0.1"})
        _, forged = signed("not-the-secret", {"image": web_image, "tag": "1.0.1"})
        attempts = [
            ("/hooks/generic", {}),
            ("/hooks/generic", forged),
            ("/hooks/generic", {"X-Imagebot-Token": "not-the-secret"}),
            ("/hooks/registry", {}),
            ("/hooks/registry", {"Authorization": "Bearer not-the-secret"}),
        ]
        state.refused = [bot.post(path, body, headers).status_code for path, headers in attempts]
        time.sleep(1.5)
        after = _work_done(bot)
        state.refused_work = {k: after[k] - before[k] for k in before}
        state.refused_tip_moved = remote.tip() != tip

        started = time.monotonic()
        state.generic_status = bot.post("/hooks/generic", body, good).status_code
        assert wait_until(lambda: "1.0.1" in image_line(remote), 15), bot.logs()
        state.generic_seconds = time.monotonic() - started

        started = time.monotonic()
        with httpx.Client(timeout=5) as client:
            push_image(client, notifying_url, "team/api", "1.0.1")
        assert wait_until(lambda: "1.0.1" in image_line(remote, "apps/api.yaml"), 15), bot.logs()
        state.notification_seconds = time.monotonic() - started
        # The metrics count an update once its cycle is reported, just after the push.
        applied = 'imagebot_updates_applied_total{repository="fleet"} 2.0'
        assert wait_until(lambda: applied in bot.metrics(), 5), bot.metrics()
        state.metrics = bot.metrics()
        state.exit_code = bot.terminate()
        yield state
    finally:
        launcher.close()
        notifier.kill()
        notifier.wait()


def _settled(bot: BotProcess) -> bool:
    """No scan or cycle started for half a second."""
    first = _work_done(bot)
    time.sleep(0.5)
    return _work_done(bot) == first


def test_unsigned_or_wrongly_signed_webhooks_are_refused(hooked: Hooked):
    assert hooked.refused == [401, 403, 403, 401, 403]


def test_a_refused_webhook_triggers_nothing(hooked: Hooked):
    assert hooked.refused_work == {"scans": 0, "cycles": 0}
    assert not hooked.refused_tip_moved


def test_a_signed_generic_webhook_updates_within_seconds_despite_an_hour_interval(
    hooked: Hooked,
):
    assert hooked.generic_status == 202
    assert hooked.generic_seconds < 6
    assert image_line(hooked.remote) == f"image: {hooked.web_image}:1.0.1   # the app"


def test_a_registry_push_notification_updates_within_seconds(hooked: Hooked):
    assert hooked.notification_seconds < 10
    assert image_line(hooked.remote, "apps/api.yaml") == (
        f"image: {hooked.api_image}:1.0.1   # the app"
    )
    text = hooked.metrics
    assert metric(text, "imagebot_webhook_requests_total", receiver="generic", code="401") == 1
    assert metric(text, "imagebot_webhook_requests_total", receiver="generic", code="403") == 2
    assert metric(text, "imagebot_updates_applied_total", repository="fleet") == 2
    assert hooked.exit_code == 0


# --- readiness --------------------------------------------------------------------------


class HeldRegistry(LoopbackProxy):
    """Holds every request until ``release`` is set: a first sync that cannot finish yet."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.release = threading.Event()

    def handle(self, handler: Any, body: bytes) -> None:
        self.release.wait(30)
        return None


def test_readyz_is_unready_until_the_first_sync_finishes(
    tmp_path: Path, registry: RegistryServer, repo_name: str, launcher: Launcher
):
    registry.push(repo_name, ["1.0.0", "1.0.1"])
    with HeldRegistry(registry.host) as proxy:
        remote = fleet(tmp_path / "git", f"{proxy.host}/{repo_name}:1.0.0")
        port = free_port()
        config = write_config(
            tmp_path / "imagebot.yaml", state=tmp_path / "state", port=port,
            repositories=[repository(remote)],
        )  # fmt: skip
        bot = launcher.start(config, port)
        bot.wait_listening()
        assert wait_until(lambda: proxy.seen, 10)

        held = bot.get("/readyz")
        assert held.status_code == 503
        assert held.json()["checks"]["first_sync_done"] is False
        assert held.json()["details"] == {"first_sync_pending": "fleet"}
        assert bot.get("/healthz").status_code == 200

        proxy.release.set()
        assert wait_until(lambda: bot.get("/readyz").status_code == 200, 15), bot.logs()
        assert "1.0.1" in image_line(remote)
        assert bot.terminate() == 0


# --- shutdown ---------------------------------------------------------------------------


def slow_pushes(remote: Remote, seconds: float, marker: Path) -> None:
    """A pre-receive hook on the remote that takes *seconds* (and says when it started)."""
    hook = remote.path / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ncat >/dev/null\ntouch '{marker}'\nsleep {seconds}\n")
    hook.chmod(0o755)


def test_sigterm_during_a_push_lets_it_finish_and_exits_zero(
    tmp_path: Path, registry: RegistryServer, repo_name: str, launcher: Launcher
):
    registry.push(repo_name, ["1.0.0", "1.0.1"])
    remote = fleet(tmp_path / "git", f"{registry.host}/{repo_name}:1.0.0")
    marker = tmp_path / "push-started"
    slow_pushes(remote, 1.5, marker)
    tip = remote.tip()
    port = free_port()
    config = write_config(
        tmp_path / "imagebot.yaml", state=tmp_path / "state", port=port,
        repositories=[repository(remote)],
    )  # fmt: skip
    bot = launcher.start(config, port)
    assert wait_until(marker.exists, 15), bot.logs()

    status = bot.terminate()

    assert status == 0
    assert remote.tip() != tip
    assert "1.0.1" in image_line(remote)
    assert_consistent(remote)


class TagStream:
    """Pushes 1.0.1, 1.0.2, ... to the registry every *every* seconds on a thread."""

    def __init__(self, registry: RegistryServer, name: str, every: float) -> None:
        self.registry, self.name, self.every = registry, name, every
        self.latest = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TagStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.registry.push(self.name, [f"1.0.{self.latest + 1}"])
            self.latest += 1


def test_sigterm_while_cycles_run_repeatedly_leaves_the_remote_consistent(
    tmp_path: Path, registry: RegistryServer, repo_name: str, launcher: Launcher
):
    registry.push(repo_name, ["1.0.0"])
    image = f"{registry.host}/{repo_name}"
    remote = fleet(tmp_path / "git", f"{image}:1.0.0")
    initial = remote.tip() or ""
    slow_pushes(remote, 0.2, tmp_path / "push-started")
    port = free_port()
    config = write_config(
        tmp_path / "imagebot.yaml", state=tmp_path / "state", port=port,
        repositories=[repository(remote)], interval="1s", shutdown_timeout="5s",
    )  # fmt: skip
    chance = random.Random(6)
    with TagStream(registry, repo_name, 0.25) as stream:
        for _round in range(3):
            bot = launcher.start(config, port)
            bot.wait_ready()
            count = remote.count()
            assert wait_until(lambda c=count: remote.count() > c, 10), bot.logs()
            time.sleep(chance.uniform(0.0, 0.4))
            assert bot.terminate(timeout=10) == 0, bot.logs()
            assert_consistent(remote)
    newest = stream.latest  # once the stream has stopped: no tag pushed after it is read

    bot = launcher.start(config, port)
    bot.wait_ready()
    assert wait_until(lambda: f":1.0.{newest} " in image_line(remote), 10), bot.logs()
    assert bot.terminate() == 0
    assert_consistent(remote)
    commits = git(remote.path, "rev-list", "--reverse", f"{initial}..main").split()
    versions = []
    for commit in commits:
        lines = changed_lines(remote, commit)
        assert [line[0] for line in lines] == ["-", "+"], lines
        assert git(remote.path, "log", "-1", "--format=%an", commit) == "imagebot"
        versions.append(int(lines[1].split(f"{image}:1.0.")[1].split()[0]))
    assert versions == sorted(set(versions)), "an update was applied twice or went backwards"


# --- restart ----------------------------------------------------------------------------


def test_a_restart_fetches_nothing_it_knows_and_reapplies_nothing(
    tmp_path: Path, registry: RegistryServer, repo_name: str, launcher: Launcher
):
    registry.push(repo_name, ["1.0.0", "1.0.1"])
    remote = fleet(tmp_path / "git", f"{registry.host}/{repo_name}:1.0.0")
    port = free_port()
    config = write_config(
        tmp_path / "imagebot.yaml", state=tmp_path / "state", port=port,
        repositories=[repository(remote)], tag_cache_ttl="1h",
    )  # fmt: skip
    first = launcher.start(config, port)
    first.wait_ready()
    assert "1.0.1" in image_line(remote)
    asked = metric_sum(first.metrics(), "imagebot_registry_requests_total")
    assert first.terminate() == 0
    tip, count = remote.tip(), remote.count()

    again = launcher.start(config, port)
    again.wait_ready()
    text = again.metrics()
    assert again.terminate() == 0

    assert asked >= 1
    assert metric_sum(text, "imagebot_registry_requests_total") == 0
    assert metric(text, "imagebot_cycles_total", repository="fleet", result="ok") == 1
    assert metric(text, "imagebot_updates_applied_total", repository="fleet") is None
    assert (remote.tip(), remote.count()) == (tip, count)
    with Store.open(tmp_path / "state" / STORE_FILE) as store:
        rows = store.query("SELECT new_tag FROM history WHERE repository = 'fleet'")
    assert [row["new_tag"] for row in rows] == ["1.0.1"]


# --- configuration ----------------------------------------------------------------------


def _run(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IMAGEBOT, "run", "--config", str(config)],
        capture_output=True, text=True, env=env, timeout=30, check=False,
    )  # fmt: skip


def test_a_config_error_exits_2_naming_the_file_and_key(tmp_path: Path, launcher: Launcher):
    config = tmp_path / "imagebot.yaml"
    config.write_text("repositories:\n  - url: file:///nowhere.git\nservice:\n  intreval: 1s\n")

    result = _run(config, launcher.env)

    assert result.returncode == 2
    assert f"{config}:4: service.intreval: unknown key" in result.stderr
    assert "did you mean 'interval'?" in result.stderr


def test_a_webhook_secret_from_an_unset_variable_exits_2(tmp_path: Path, launcher: Launcher):
    config = write_config(
        tmp_path / "imagebot.yaml", state=tmp_path / "state", port=free_port(),
        repositories=[{"url": "file:///nowhere.git"}],
        webhooks={"hub": {"type": "dockerhub", "secret_env": "E2E_UNSET_SECRET"}},
    )  # fmt: skip

    result = _run(config, launcher.env)

    assert result.returncode == 2
    assert "service.webhooks.hub.secret_env: environment variable E2E_UNSET_SECRET" in (
        result.stderr
    )


def test_run_without_repositories_exits_2(tmp_path: Path, launcher: Launcher):
    config = tmp_path / "imagebot.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n")

    result = _run(config, launcher.env)

    assert result.returncode == 2
    assert "no repositories to keep up to date" in result.stderr
