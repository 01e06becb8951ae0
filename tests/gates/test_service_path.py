"""The service's path (a webhook makes it scan, then run the repository's cycle) writes no
tag the gates hold: the same resolution as every cycle; the held workload is reported as
blocked (``held``), so the blocked/diverged metrics and alerts see it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from imagebot.config import RepositoryConfig
from imagebot.service.types import BlockedWorkload
from imagebot.service.wiring import Wiring
from tests.update.helpers import Bot, automated, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_cycle_a_webhook_starts_leaves_a_held_tag_alone(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0"], created=T0)
    image = f"{bot.registry.host}/{repo_name}"
    notes = {**automated("semver:^1.0"), "imagebot.io/min-age.app": "1d"}
    written = deployment("web", f"{image}:1.0.0", annotations=notes)
    remote = bot.remote({"web.yaml": written})
    repo = RepositoryConfig(url=remote.url, name="fleet")
    config = type(bot.config)(**{**bot.config.__dict__, "repositories": [repo]})
    wiring = Wiring(config, bot.runner, bot.store)
    wiring.run_cycle(repo, threading.Event())
    bot.registry.push(repo_name, ["1.0.1"], created=T0)

    scanned = wiring.scan_images([image], fresh=True)  # what a registry webhook asks
    outcome = wiring.run_cycle(repo, threading.Event())

    assert scanned[image].new_tags == ("1.0.1",)
    assert outcome.completed
    assert outcome.applied == ()
    assert remote.read("web.yaml") == written
    assert outcome.blocked == (
        BlockedWorkload("apps:deployment/web", "app", image, "held", "1.0.0", "1.0.1"),
    )
