"""``imagebot run`` as a real process respects a person's ``git revert`` of its update: the
next cycle locks the workload instead of updating it again, later cycles leave it alone,
and the rollback is notified once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.gitops.helpers import Remote, make_remote, use_isolated_git
from tests.harness import RegistryServer, free_port
from tests.service.e2e import Launcher, metric_sum, recording_sink, wait_until, write_config
from tests.update.helpers import automated, deployment

from .test_rollbacks import Person

pytestmark = pytest.mark.slow

WEB = "apps:deployment/web"


@pytest.fixture(scope="module", autouse=True)
def _isolated_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        use_isolated_git(patch, tmp_path_factory.mktemp("git-home"))
        yield


@dataclass
class Reverted:
    remote: Remote
    image: str
    update: str
    revert: str
    lock: str
    tip_after_more_cycles: str | None
    notifications: list[tuple[str, Any]] = field(default_factory=list)
    logs: str = ""


def cycles(bot: Any) -> float:
    return metric_sum(bot.metrics(), "imagebot_cycles_total", repository="fleet", result="ok")


@pytest.fixture(scope="module")
def reverted(
    tmp_path_factory: pytest.TempPathFactory, registry: RegistryServer
) -> Iterator[Reverted]:
    tmp = tmp_path_factory.mktemp("reverted")
    image = f"{registry.host}/reconcile-e2e/rollback"
    registry.push("reconcile-e2e/rollback", ["1.0.0", "1.0.1"])
    where = tmp / "git"
    where.mkdir()
    web = deployment("web", f"{image}:1.0.0", annotations=automated("semver:~1.0"))
    remote = make_remote(where, {"apps/web.yaml": web})
    before = remote.tip()
    launcher = Launcher(tmp / "home")
    with recording_sink() as sink:
        port = free_port()
        config = write_config(
            tmp / "imagebot.yaml",
            state=tmp / "state",
            port=port,
            cycle_interval="1s",
            repositories=[
                {
                    "url": remote.url,
                    "name": "fleet",
                    "branch": "main",
                    "notify": [{"type": "webhook", "url": sink.url + "/n", "on": ["update"]}],
                }
            ],
        )
        try:
            bot = launcher.start(config, port)
            bot.wait_ready()
            assert wait_until(lambda: remote.tip() != before, 15), bot.logs()
            update = remote.tip() or ""
            revert = Person(remote, tmp / "person").revert(update)
            assert wait_until(lambda: remote.tip() != revert, 15), bot.logs()
            lock = remote.tip() or ""
            seen = cycles(bot)
            assert wait_until(lambda: cycles(bot) >= seen + 2, 15), bot.logs()
            state = Reverted(remote, image, update, revert, lock, remote.tip())
            assert wait_until(lambda: len(sink.received) >= 2, 10), bot.logs()
            bot.terminate()
            state.notifications = list(sink.received)
            state.logs = bot.logs()
            yield state
        finally:
            launcher.close()


def test_the_cycle_after_the_revert_commits_a_lock_not_the_update_again(reverted: Reverted):
    assert reverted.remote.subjects()[0] == "Lock apps:deployment/web: rolled back by Test Person"
    text = reverted.remote.read("apps/web.yaml").decode()
    assert f"image: {reverted.image}:1.0.0   # the app" in text
    assert f'locked_msg: "rolled back by Test Person in {reverted.revert[:12]}' in text


def test_later_cycles_leave_the_locked_workload_alone(reverted: Reverted):
    assert reverted.tip_after_more_cycles == reverted.lock


def test_the_rollback_is_notified_once_to_update_subscribers(reverted: Reverted):
    events = [note["event"] for _, note in reverted.notifications]
    assert events == ["update", "rolled-back"]
    (_, note) = reverted.notifications[1]
    (item,) = note["rolled_back"]
    assert (item["workload"], item["written"], item["current"], item["locked"]) == (
        WEB,
        "1.0.1",
        "1.0.0",
        True,
    )
    assert note["commit"] == reverted.lock


def test_the_log_says_why_the_update_was_not_applied(reverted: Reverted):
    assert "was rolled back to 1.0.0" in reverted.logs
