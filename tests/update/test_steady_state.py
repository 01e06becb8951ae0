"""``imagebot run`` in steady state: a cycle reads only the manifests whose Git blob changed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.gitops.helpers import Writer
from tests.update.helpers import Bot, automated, counting_composes, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def fleet(bot: Bot, repo_name: str):
    app = f"{repo_name}/app"
    bot.registry.push(app, ["1.0.0", "1.0.1"], created=T0)
    files = {
        f"apps/web-{i:02d}.yaml": deployment(
            f"web-{i:02d}", bot.image(app, "1.0.1"), annotations=automated("semver:~1.0")
        )
        for i in range(20)
    }
    return app, bot.remote(files)


def test_a_cycle_over_an_unchanged_repository_parses_no_manifest(bot: Bot, fleet, monkeypatch):
    _, remote = fleet
    first = bot.run(remote)
    assert first.exit_code == 0
    composed = counting_composes(monkeypatch)

    again = bot.run(remote)

    assert again.exit_code == 0
    assert len(again.resolutions) == 20
    assert composed == []


def test_a_cycle_after_one_file_changed_parses_only_that_file(
    bot: Bot, fleet, monkeypatch, tmp_path: Path
):
    app, remote = fleet
    bot.run(remote)
    Writer(remote, tmp_path / "writer").commit_and_push(
        "apps/web-07.yaml",
        deployment("web-07", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0")),
    )
    composed = counting_composes(monkeypatch)

    report = bot.run(remote)

    assert [r.site.file for r in report.applied] == ["apps/web-07.yaml"]
    # discovery read the changed file once; the rewrite spliced at its offsets, and a
    # splice of one plain value in a file without anchors is proven without a re-read
    assert len(composed) == 1
    assert "1.0.0" in composed[0]


def test_a_cycle_that_computes_the_same_rewrites_again_parses_nothing(
    bot: Bot, fleet, monkeypatch, tmp_path: Path
):
    app, remote = fleet
    Writer(remote, tmp_path / "writer").commit_and_push(
        "apps/web-03.yaml",
        deployment("web-03", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0")),
    )
    first = bot.run(remote, dry_run=True)
    composed = counting_composes(monkeypatch)

    again = bot.run(remote, dry_run=True)  # as when a pull request with it is still open

    assert composed == []
    assert again.diff == first.diff
    assert "+          image: " + bot.image(app, "1.0.1") in again.diff
    assert [r.site.file for r in again.applied] == ["apps/web-03.yaml"]


def test_a_cycle_over_an_unchanged_repository_reads_no_manifest_file(
    bot: Bot, fleet, monkeypatch, tmp_path: Path
):
    """Discovery's last answer and the last rewrites (with their diffs) are reused while Git
    reports every blob unchanged: the second cycle opens no manifest at all."""
    app, remote = fleet
    Writer(remote, tmp_path / "writer").commit_and_push(
        "apps/web-03.yaml",
        deployment("web-03", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0")),
    )
    first = bot.run(remote, dry_run=True)
    read: list[str] = []
    real = Path.read_bytes

    def reading(self: Path) -> bytes:
        if self.suffix == ".yaml":
            read.append(self.name)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", reading)

    again = bot.run(remote, dry_run=True)

    assert read == []
    assert again.diff == first.diff
    assert [r.site.file for r in again.applied] == ["apps/web-03.yaml"]
    assert bot.cycle.discovery_caches[next(iter(bot.cycle.discovery_caches))].reused
