"""One bad registry never stops the others: a stuck, slow or crashing registry fails its own
images, and the cycle still commits every update whose registry answered, in bounded time."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitops.helpers import git
from tests.harness import RegistryServer
from tests.reliability.hostile import Conn, HostileServer, trickle
from tests.update.helpers import Bot, automated, deployment, run_cli

TIMEOUT = 1.0
RETRIES = 1
CONCURRENCY = 4  # the bad registry's connection cap
#: What one failing registry may cost per resolution stage: every attempt at its deadline,
#: plus the back-off between attempts (at most 0.5 s after the first).
WINDOW = (RETRIES + 1) * TIMEOUT + 0.5
#: Clone, discovery, commit and push of a small repository, on a busy shared 2-core machine.
OVERHEAD = 15.0
#: Requests one stuck registry gets at most: its connection cap's worth, each retried; then
#: it is left alone. Without the bound, 3 repositories x 40 tags x 2 attempts.
MOST_REQUESTS = CONCURRENCY * (RETRIES + 1) + 3


def trickling(conn: Conn) -> None:
    """Headers at once, then a byte every 0.2 s: over three minutes for the body."""
    conn.head(200, {"Content-Type": "application/json", "Content-Length": "1000"})
    trickle(conn, b" " * 1000, every=0.2)


def crashing(conn: Conn) -> None:
    """Closes the connection on every request without a word."""
    conn.sock.shutdown(socket.SHUT_RDWR)
    raise OSError("crash")


def lists_then_stalls(conn: Conn) -> None:
    """Lists 40 tags at once; every manifest request then trickles."""
    if conn.request.path.endswith("/tags/list") or "/tags/list?" in conn.request.path:
        body = json.dumps({"tags": [f"2.0.{i}" for i in range(40)]}).encode()
        conn.reply(200, body)
    else:
        trickling(conn)


@pytest.fixture
def bot(tmp_path: Path, registry: RegistryServer, isolated_git: Path, monkeypatch) -> Iterator[Bot]:
    monkeypatch.setenv("IMAGEBOT_STATE_DIR", str(tmp_path / "state"))
    with Bot(tmp_path, registry) as b:
        yield b


def registries(bad: HostileServer) -> str:
    entry = f"{{timeout: {TIMEOUT}s, retries: {RETRIES}, max_concurrency: {CONCURRENCY}}}"
    return f"registries:\n  '{bad.host}': {entry}\n"


def configure(bot: Bot, bad: HostileServer) -> None:
    bot.reconfigure(registries(bad))


def fleet(bot: Bot, good: str, bad: HostileServer, policy: str = "semver:^1") -> dict:
    files = {
        "apps/good.yaml": deployment(
            "good", bot.image(good, "1.0.0"), annotations=automated("semver:^1")
        ),
        "apps/good-too.yaml": deployment(
            "good-too", bot.image(good, "1.0.0"), annotations=automated("semver:~1.0")
        ),
    }
    for i in range(3):
        files[f"apps/bad-{i}.yaml"] = deployment(
            f"bad-{i}", f"{bad.host}/team/app-{i}:1.0.0", annotations=automated(policy)
        )
    return files


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "policy"),
    [
        (trickling, "semver:^1"),
        (crashing, "semver:^1"),
        (lists_then_stalls, "glob:*"),  # build times wanted for 40 tags, each one stalls
    ],
    ids=["trickling", "crashing", "lists-then-stalls"],
)
def test_the_cycle_commits_what_the_good_registry_answered_within_a_bounded_time(
    bot: Bot, repo_name: str, script, policy: str
):
    good = f"{repo_name}/app"
    bot.registry.push(good, ["1.0.0", "1.0.1", "1.2.0"])
    with HostileServer(script) as bad:
        configure(bot, bad)
        remote = bot.remote(fleet(bot, good, bad, policy))
        report = bot.run(remote)

    assert report.pushed
    assert report.commit == remote.tip()
    assert {(r.site.name, r.new_tag) for r in report.applied} == {
        ("good", "1.2.0"),
        ("good-too", "1.0.1"),
    }
    failed = {p.subject: p.message for p in report.problems}
    assert set(failed) == {f"{bad.host}/team/app-{i}" for i in range(3)}
    assert all(message.startswith(f"{bad.host}/team/app-") for message in failed.values())
    assert len(bad.requests()) <= MOST_REQUESTS
    assert report.duration < WINDOW + OVERHEAD


@pytest.mark.slow
def test_imagebot_scan_commits_the_good_registrys_updates_and_names_the_stuck_one(
    bot: Bot, repo_name: str, tmp_path: Path
):
    good = f"{repo_name}/app"
    bot.registry.push(good, ["1.0.0", "1.0.1", "1.2.0"])
    with HostileServer(trickling) as bad:
        config = tmp_path / "imagebot.yaml"
        config.write_text(f"state_dir: {tmp_path / 'cli-state'}\n" + registries(bad))
        remote = bot.remote(fleet(bot, good, bad))
        result = run_cli("scan", "--repo", remote.url, "--config", str(config))

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"Commit {remote.tip()[:12]} pushed to main" in result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("  FAILED")]
    assert len(failed) == 3
    assert all(f"{bad.host}/team/app-" in line and "deadline" in line for line in failed)
    message = git(remote.path, "log", "-1", "--format=%B")
    assert "good app 1.0.0 -> 1.2.0" in message
