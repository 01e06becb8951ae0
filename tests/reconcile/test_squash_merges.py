"""Pull requests merged by squash or rebase: imagebot's commit is not on the branch, the
commit that carries its change is. Real Git history (the bot's branch squashed with ``git
merge --squash``, or rebased onto the branch), a real registry, the service's wiring."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from imagebot.config import RepositoryConfig, parse_config
from imagebot.operations.events import timeline
from imagebot.service.wiring import Wiring
from imagebot.update import history
from imagebot.update.reconcile import divergence
from tests.gitops.helpers import Remote, git
from tests.harness import RegistryServer
from tests.update.helpers import Bot, automated, checkout, deployment

from .test_matching import report

AFTER = 900.0


@dataclass
class BranchLoop:
    """A bot that pushes its changes to ``imagebot/main`` for a person to merge, with a flux
    receiver, and that person's clone."""

    bot: Bot
    remote: Remote
    repo: RepositoryConfig
    wiring: Wiring
    person: Path

    def cycle(self) -> str | None:
        return self.wiring.run_cycle(self.repo, threading.Event()).commit

    def squash_merge(self, message: str = "Update web and api (#7)") -> str:
        git(self.person, "pull", "-q", "--ff-only")
        git(self.person, "fetch", "-q", "origin", "imagebot/main")
        git(self.person, "merge", "-q", "--squash", "FETCH_HEAD")
        git(self.person, "commit", "-q", "-m", message)
        git(self.person, "push", "-q", "origin", "HEAD:main")
        return git(self.person, "rev-parse", "HEAD")

    def rebase_merge(self) -> str:
        git(self.person, "pull", "-q", "--ff-only")
        git(self.person, "fetch", "-q", "origin", "imagebot/main")
        git(self.person, "checkout", "-q", "-b", "rebased", "FETCH_HEAD")
        git(self.person, "rebase", "-q", "--force-rebase", "main")
        git(self.person, "checkout", "-q", "main")
        git(self.person, "merge", "-q", "--ff-only", "rebased")
        git(self.person, "push", "-q", "origin", "HEAD:main")
        return git(self.person, "rev-parse", "HEAD")

    def landed(self) -> list[tuple[str, float | None, str | None]]:
        return [
            (row[0], row[1], row[2])
            for row in self.bot.store.query(
                "SELECT workload, landed_at, landed_commit FROM history ORDER BY workload"
            )
        ]

    def states(self) -> dict[str, str]:
        return {e.workload: e.state for e in history.entries(self.bot.store)}


@pytest.fixture
def loop(tmp_path: Path, registry: RegistryServer, repo_name: str) -> Iterator[BranchLoop]:
    registry.push(repo_name, ["1.0.0", "1.0.1"])
    image = f"{registry.host}/{repo_name}"
    hooks = "service: {webhooks: {flux: {type: flux, secret: s}}}\n"
    with Bot(tmp_path, registry, hooks) as bot:
        remote = bot.remote(
            {
                "apps/web.yaml": deployment(
                    "web", f"{image}:1.0.0", annotations=automated("semver:~1.0")
                ),
                "apps/api.yaml": deployment(
                    "api", f"{image}:1.0.0", annotations=automated("semver:~1.0")
                ),
            }
        )
        config = parse_config(
            f"state_dir: {bot.state}\n{hooks}"
            f"repositories: [{{url: '{remote.url}', name: fleet, branch: main, "
            "write_mode: branch}]\n"
        )
        (repo,) = config.repositories
        person = checkout(remote, tmp_path / "person")
        yield BranchLoop(bot, remote, repo, Wiring(config, bot.runner, bot.store), person)


def test_a_squash_merged_change_lands_with_the_squash_commit(loop: BranchLoop):
    bot = loop.cycle()
    # The bot's branch is made again on the person's commit (api only: web is past 1.0.1).
    assert {(landed, carried) for _, landed, carried in loop.landed()} == {(None, None)}
    squash = loop.squash_merge()
    before = time.time()

    loop.cycle()

    rows = loop.landed()
    assert [(w, c) for w, _, c in rows] == [
        ("apps:deployment/api", squash),
        ("apps:deployment/web", squash),
    ]
    assert all(landed is not None and landed >= before for _, landed, _ in rows)
    assert bot not in {c for _, _, c in rows}


def test_a_report_of_the_squash_commit_moves_the_changes_to_applied(loop: BranchLoop):
    loop.cycle()
    squash = loop.squash_merge()
    loop.cycle()

    (result,) = loop.wiring.reconcile([report(squash)])

    assert result.commits == (squash,)
    assert loop.states() == {"apps:deployment/web": "applied", "apps:deployment/api": "applied"}
    syncs = sorted(e.summary for e in timeline(loop.bot.store) if e.kind == "sync")
    assert syncs == [
        f"Sync to cluster: apps:deployment/api ({squash[:12]})",
        f"Sync to cluster: apps:deployment/web ({squash[:12]})",
    ]


def test_a_report_that_came_before_the_fetch_of_the_squash_commit_is_matched_after_it(
    loop: BranchLoop,
):
    loop.cycle()
    squash = loop.squash_merge()
    assert loop.wiring.reconcile([report(squash)]) == []  # imagebot has not fetched it yet

    outcome = loop.wiring.run_cycle(loop.repo, threading.Event())

    (result,) = outcome.reconciled
    assert (result.outcome, result.commits) == ("applied", (squash,))
    assert set(loop.states().values()) == {"applied"}


def test_a_squash_merged_change_diverges_until_a_report_applies_it(loop: BranchLoop):
    loop.cycle()
    squash = loop.squash_merge()
    loop.cycle()
    later = time.time() + 2 * AFTER

    diverged = divergence(loop.bot.store, "fleet", AFTER, now=later).diverged
    loop.wiring.reconcile([report(squash)])
    cleared = divergence(loop.bot.store, "fleet", AFTER, now=later)

    assert sorted(diverged) == ["apps:deployment/api", "apps:deployment/web"]
    assert (cleared.oldest, cleared.diverged) == (None, {})


def test_a_rebase_merged_change_lands_with_its_rebased_copy(loop: BranchLoop):
    bot = loop.cycle()
    git(loop.person, "commit", "-q", "--allow-empty", "-m", "a person's commit first")
    git(loop.person, "push", "-q", "origin", "HEAD:main")
    rebased = loop.rebase_merge()
    assert rebased != bot

    loop.cycle()
    (result,) = loop.wiring.reconcile([report(rebased)])

    assert {c for _, _, c in loop.landed()} == {rebased}
    assert result.commits == (rebased,)
    assert set(loop.states().values()) == {"applied"}


def test_a_person_setting_another_tag_on_the_branch_does_not_land_the_change(
    loop: BranchLoop, registry: RegistryServer, repo_name: str
):
    loop.cycle()  # imagebot/main: 1.0.0 -> 1.0.1, not merged
    web = loop.person / "apps/web.yaml"
    web.write_text(web.read_text().replace(":1.0.0", ":1.0.2"))
    git(loop.person, "commit", "-q", "-am", "web: 1.0.2 by hand")
    git(loop.person, "push", "-q", "origin", "HEAD:main")

    loop.cycle()

    # The bot's branch is made again on the person's commit (api only: web is past 1.0.1).
    assert {(landed, carried) for _, landed, carried in loop.landed()} == {(None, None)}


def test_a_report_of_the_bots_unmerged_branch_tip_still_applies_its_own_commit(
    loop: BranchLoop,
):
    bot = loop.cycle()
    assert bot is not None

    (result,) = loop.wiring.reconcile([report(bot)])

    assert result.commits == (bot,)
    assert [c for _, _, c in loop.landed()] == [None, None]
