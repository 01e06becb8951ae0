"""imagebot.operations: plan shows a change without writing it, apply commits it (as the
CLI does, byte for byte), the acting user is an argument, and nothing is printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.config import load_config
from imagebot.operations import PlanChanged, actions, apply, plan
from tests.cli.workload_support import PERSON, invoke, isolate, original, seed_fleet
from tests.gitops.helpers import Remote, Writer, git

GHOST = "releases/ghost.yaml"
PODINFO = "workloads/podinfo-dep.yaml"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


@pytest.fixture
def fleet(tmp_path: Path) -> Remote:
    return seed_fleet(tmp_path)


def test_a_plan_shows_the_diff_and_message_and_writes_nothing(
    fleet: Remote, capsys: pytest.CaptureFixture[str]
):
    before = fleet.tip()

    outcome = plan(
        load_config(None),
        actions.automate(),
        "demo:helmrelease/ghost",
        repo=fleet.url,
        user="alice",
    )

    assert fleet.tip() == before
    assert outcome.dry_run
    assert outcome.commit is None
    assert '-    fluxcd.io/automated: "false"\n+    fluxcd.io/automated: "true"\n' in outcome.diff
    assert outcome.message.splitlines()[0] == "Automated: demo:helmrelease/ghost"
    assert outcome.message.endswith("Requested-by: alice\n")
    assert capsys.readouterr() == ("", "")


def test_apply_makes_the_commit_the_cli_makes(fleet: Remote, tmp_path: Path):
    other = seed_fleet(tmp_path / "other")
    result = invoke("lock", "demo:deployment/podinfo", "-m", "hold", "--repo", other.url)
    assert result.exit_code == 0, result.output

    outcome = apply(
        load_config(None),
        actions.lock("hold", PERSON),
        "demo:deployment/podinfo",
        repo=fleet.url,
        user=PERSON,
        body="hold",
    )

    assert outcome.commit == fleet.tip()
    tree = "main^{tree}"
    assert git(fleet.path, "rev-parse", tree) == git(other.path, "rev-parse", tree)
    body = ["log", "-1", "--format=%B", "main"]
    assert git(fleet.path, *body) == git(other.path, *body)


def test_apply_as_author_names_the_user_as_author_and_the_bot_as_committer(fleet: Remote):
    apply(
        load_config(None),
        actions.unlock(),
        "demo:helmrelease/redis",
        repo=fleet.url,
        user="alice",
        author=True,
    )

    who = git(fleet.path, "log", "-1", "--format=%an <%ae>|%cn", "main")
    assert who == "alice <alice@users.noreply.local>|imagebot"
    assert fleet.read("releases/redis.yaml") != original("releases/redis.yaml")


def test_apply_refuses_when_the_change_is_no_longer_the_planned_one(fleet: Remote, tmp_path: Path):
    config = load_config(None)
    shown = plan(config, actions.automate(), "demo:helmrelease/ghost", repo=fleet.url)
    moved = original(GHOST).replace(b"glob:3.1.1-debian-9-*", b"glob:3.1.2-debian-9-*")
    Writer(fleet, tmp_path / "human").commit_and_push(GHOST, moved)
    tip = fleet.tip()

    with pytest.raises(PlanChanged):
        apply(
            config,
            actions.automate(),
            "demo:helmrelease/ghost",
            repo=fleet.url,
            expect_diff=shown.diff,
        )

    assert fleet.tip() == tip


def test_rollback_moves_the_tag_back_and_locks_in_one_commit(fleet: Remote):
    before = fleet.count()

    outcome = apply(
        load_config(None),
        actions.rollback(
            load_config(None),
            "3.0.0",
            user="alice",
            reason="5xx",
            container="podinfod",
            check_tag=False,
        ),
        "demo:deployment/podinfo",
        repo=fleet.url,
        user="alice",
    )

    text = fleet.read(PODINFO).decode()
    assert fleet.count() == before + 1
    assert "image: stefanprodan/podinfo:3.0.0" in text
    assert 'fluxcd.io/locked: "true"' in text
    assert "rolled back by alice: 5xx" in text
    assert outcome.subject == "Roll back stefanprodan/podinfo to 3.0.0 in demo:deployment/podinfo"
