"""Divergence: changes on the branch that no reconciler reported applied in time, in
process (real registry, bare remote, the service's wiring) and through ``list-images``."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from imagebot.config import parse_config
from imagebot.operations import fleet
from imagebot.service.wiring import Wiring
from imagebot.store import Store, store_path
from imagebot.update import Runner
from imagebot.update.reconcile import divergence, mark_landed
from tests.cli.ux_support import invoke
from tests.gitops.helpers import git
from tests.harness import RegistryServer
from tests.update.helpers import Bot, automated, checkout, deployment

from .conftest import FLUX_SECRET, Loop
from .test_matching import bot_commit, report

AFTER = 900.0


def landed(loop: Loop) -> list[float | None]:
    return [row[0] for row in loop.bot.store.query("SELECT landed_at FROM history")]


def test_a_change_pushed_to_the_branch_lands_when_it_is_pushed(loop: Loop):
    bot_commit(loop)
    pushed = [row[0] for row in loop.bot.store.query("SELECT time FROM history")]

    assert landed(loop) == pushed


def test_changes_recorded_before_a_receiver_was_configured_never_land(loop: Loop):
    bot_commit(loop)
    with loop.bot.store.transaction() as db:  # as if pushed the day before receivers came
        db.execute("UPDATE history SET landed_at = NULL, time = time - 86400")

    assert mark_landed(loop.bot.store, loop.bot.config, loop.repo) == 0
    assert landed(loop) == [None, None]


def test_a_landed_change_diverges_only_after_divergence_after(loop: Loop):
    bot_commit(loop)
    (since, _) = landed(loop)
    assert since is not None

    early = divergence(loop.bot.store, "fleet", AFTER, now=since + AFTER - 1)
    late = divergence(loop.bot.store, "fleet", AFTER, now=since + AFTER)

    assert early.oldest == since
    assert early.diverged == {}
    assert late.diverged == {"apps:deployment/api": since, "apps:deployment/web": since}


def test_an_applied_report_ends_the_divergence(loop: Loop):
    commit = bot_commit(loop)
    loop.wiring.reconcile([report(commit)])

    found = divergence(loop.bot.store, "fleet", AFTER, now=time.time() + 10 * AFTER)

    assert (found.oldest, found.diverged) == (None, {})


def test_a_change_on_the_bots_branch_lands_when_a_person_merges_it(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(repo_name, ["1.0.0", "1.0.1"])
    image = f"{registry.host}/{repo_name}"
    web = deployment("web", f"{image}:1.0.0", annotations=automated("semver:~1.0"))
    with Bot(tmp_path, registry, "service: {webhooks: {flux: {type: flux, secret: s}}}\n") as bot:
        remote = bot.remote({"apps/web.yaml": web})
        config = parse_config(
            f"state_dir: {bot.state}\nservice: {{webhooks: {{flux: {{type: flux, secret: s}}}}}}\n"
            f"repositories: [{{url: '{remote.url}', name: fleet, branch: main, "
            "write_mode: branch}]\n"
        )
        wiring = Wiring(config, bot.runner, bot.store)
        (repo,) = config.repositories
        wiring.run_cycle(repo, threading.Event())
        assert [r[0] for r in bot.store.query("SELECT landed_at FROM history")] == [None]

        person = checkout(remote, tmp_path / "person")
        git(person, "fetch", "-q", "origin", "imagebot/main")
        git(person, "merge", "-q", "--no-ff", "-m", "Merge imagebot/main", "FETCH_HEAD")
        git(person, "push", "-q", "origin", "HEAD:main")
        before = time.time()
        wiring.run_cycle(repo, threading.Event())

        (since,) = [r[0] for r in bot.store.query("SELECT landed_at FROM history")]
        assert since is not None
        assert since >= before


def test_without_a_reconciler_receiver_nothing_lands(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(repo_name, ["1.0.0", "1.0.1"])
    image = f"{registry.host}/{repo_name}"
    web = deployment("web", f"{image}:1.0.0", annotations=automated("semver:~1.0"))
    with Bot(tmp_path, registry) as bot:
        remote = bot.remote({"apps/web.yaml": web})
        config = parse_config(
            f"state_dir: {bot.state}\nrepositories: [{{url: '{remote.url}', name: fleet}}]\n"
        )
        wiring = Wiring(config, bot.runner, bot.store)
        outcome = wiring.run_cycle(config.repositories[0], threading.Event())

        assert outcome.commit is not None
        assert [r[0] for r in bot.store.query("SELECT landed_at FROM history")] == [None]


def test_list_images_latest_says_since_when_a_workload_is_diverged(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(repo_name, ["1.0.0", "1.0.1"])
    image = f"{registry.host}/{repo_name}"
    web = deployment("web", f"{image}:1.0.0", annotations=automated("semver:~1.0"))
    with Bot(tmp_path, registry) as bot:
        remote = bot.remote({"apps/web.yaml": web})
    work = checkout(remote, tmp_path / "work")
    state = tmp_path / "state"
    config_file = tmp_path / "imagebot.yaml"
    config_file.write_text(
        f"state_dir: {state}\n"
        f"repositories: [{{path: '{work}', name: fleet, divergence_after: 15m}}]\n"
        f"service: {{webhooks: {{flux: {{type: flux, secret: {FLUX_SECRET}}}}}}}\n"
    )
    config = parse_config(config_file.read_text(), file=str(config_file))
    with Store.open(store_path(config)) as store, Runner(config, store) as runner:
        wiring = Wiring(config, runner, store)
        assert wiring.run_cycle(config.repositories[0], threading.Event()).commit
        with store.transaction() as db:  # as if the change landed 20 minutes ago
            db.execute("UPDATE history SET landed_at = ?", (time.time() - 1200,))

    result = invoke("list-images", "--latest", "--config", str(config_file), "-o", "json",
                    state=state)  # fmt: skip

    (row,) = json.loads(result.stdout)
    assert row["workload"] == "apps:deployment/web"
    assert row["diverged_since"] is not None
    assert row["status"] == "up to date, diverged since 20 minutes ago"


def test_list_images_latest_says_since_when_a_locked_container_is_behind(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(repo_name, ["1.0.0", "1.0.1"])
    image = f"{registry.host}/{repo_name}"
    notes = {**automated("semver:~1.0"), "imagebot.io/locked": "true"}
    web = deployment("web", f"{image}:1.0.0", annotations=notes)
    with Bot(tmp_path, registry) as bot:
        remote = bot.remote({"apps/web.yaml": web})
    work = checkout(remote, tmp_path / "work")
    state = tmp_path / "state"
    config_file = tmp_path / "imagebot.yaml"
    config_file.write_text(f"state_dir: {state}\nrepositories: [{{path: '{work}', name: fleet}}]\n")
    config = parse_config(config_file.read_text(), file=str(config_file))
    with Store.open(store_path(config)) as store, Runner(config, store) as runner:
        (repo,) = config.repositories
        rows = fleet.refresh(config, repo, runner, store)  # what the service does after cycles
        assert [(r.status, r.held_by) for r in rows] == [("held", "locked")]
        with store.transaction() as db:  # as if saved two days ago and kept since
            (data,) = db.execute("SELECT data FROM fleet_status").fetchone()
            two_days = datetime.fromtimestamp(time.time() - 2 * 86400, UTC).isoformat()
            db.execute(
                "UPDATE fleet_status SET data = ?",
                (json.dumps({**json.loads(data), "behind_since": two_days}),),
            )

    result = invoke("list-images", "--latest", "--config", str(config_file), "-o", "json",
                    state=state)  # fmt: skip

    (row,) = json.loads(result.stdout)
    assert row["behind_since"] == two_days
    assert row["status"] == "locked, behind since 2 days ago"
