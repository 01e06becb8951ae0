"""A new process starts as warm as ``imagebot run``: the cycle caches kept in the store.

"A new process" here is a new store handle, registry runner and ``UpdateCycle`` on the same
state directory (``Bot.reconfigure``), with nothing of the last cycle in memory; the last
test runs ``imagebot scan`` itself twice.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagebot.update import CycleReport, cyclecache
from tests.gitops.helpers import Writer
from tests.update.helpers import Bot, automated, checkout, counting_composes, deployment, run_cli

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FILES = 12


@pytest.fixture
def fleet(bot: Bot, repo_name: str):
    app = f"{repo_name}/app"
    bot.registry.push(app, ["1.0.0", "1.0.1"], created=T0)
    files = {
        f"apps/web-{i:02d}.yaml": deployment(
            f"web-{i:02d}", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0")
        )
        for i in range(FILES)
    }
    return app, bot.remote(files)


def new_process(bot: Bot) -> None:
    """Start over as a new process would: new store handle, runner and cycle."""
    bot.reconfigure("")


def plan(report: CycleReport) -> dict[str, object]:
    """What a report says, without its timings."""
    out = report.to_dict()
    for key in ("duration", "registry_seconds", "cpu_seconds"):
        out.pop(key)
    return out


def kept_row(bot: Bot) -> tuple[str, str, bytes]:
    (row,) = bot.store.query("SELECT checkout, made_with, data FROM cycle_caches")
    return str(row[0]), str(row[1]), bytes(row[2])


def test_a_new_process_over_an_unchanged_repository_composes_no_file(bot: Bot, fleet, monkeypatch):
    _, remote = fleet
    first = bot.run(remote, dry_run=True)
    new_process(bot)
    composed = counting_composes(monkeypatch)

    again = bot.run(remote, dry_run=True)

    assert composed == []
    assert plan(again) == plan(first)
    assert len(again.applied) == FILES
    assert bot.cycle.kept is not None
    assert bot.cycle.kept.loads == 1


def test_a_new_process_reads_only_the_file_that_changed(
    bot: Bot, fleet, monkeypatch, tmp_path: Path
):
    app, remote = fleet
    bot.run(remote, dry_run=True)
    Writer(remote, tmp_path / "writer").commit_and_push(
        "apps/web-07.yaml",
        deployment("web-07", bot.image(app, "1.0.1"), annotations=automated("semver:~1.0")),
    )
    new_process(bot)
    composed = counting_composes(monkeypatch)

    report = bot.run(remote, dry_run=True)

    assert len(composed) == 1  # discovery read web-07 (now up to date, nothing to rewrite)
    assert "web-07" in composed[0]
    assert len(report.applied) == FILES - 1
    assert "apps/web-07.yaml" not in report.diff


def test_what_a_new_process_plans_is_what_a_cold_one_plans(bot: Bot, fleet, tmp_path: Path):
    app, remote = fleet
    bot.run(remote, dry_run=True)
    Writer(remote, tmp_path / "writer").commit_and_push(
        "apps/web-03.yaml",
        deployment("web-03", bot.image(app, "1.0.1"), annotations=automated("semver:~1.0")),
    )
    new_process(bot)
    warm = bot.run(remote, dry_run=True)
    bot.store.forget_cycle_cache(kept_row(bot)[0])
    new_process(bot)

    cold = bot.run(remote, dry_run=True)

    assert bot.cycle.kept is not None
    assert bot.cycle.kept.loads == 0
    assert plan(warm) == plan(cold)


def test_a_cycle_that_changes_nothing_writes_nothing_to_the_store(bot: Bot, fleet):
    _, remote = fleet
    bot.run(remote, dry_run=True)
    assert bot.cycle.kept is not None
    assert bot.cycle.kept.saves == 1

    bot.run(remote, dry_run=True)  # the same process, as imagebot run
    new_process(bot)
    bot.run(remote, dry_run=True)  # a new process

    assert bot.cycle.kept is not None
    assert bot.cycle.kept.saves == 0


def test_caches_written_by_another_version_are_ignored(
    bot: Bot, fleet, monkeypatch, caplog: pytest.LogCaptureFixture
):
    _, remote = fleet
    first = bot.run(remote, dry_run=True)
    _, made_with, _ = kept_row(bot)
    with bot.store.transaction() as db:
        db.execute(
            "UPDATE cycle_caches SET made_with = ?",
            (made_with.replace(f"format {cyclecache.FORMAT}", "format 0"),),
        )
    new_process(bot)
    composed = counting_composes(monkeypatch)

    with caplog.at_level(logging.DEBUG, logger="imagebot.update.cyclecache"):
        again = bot.run(remote, dry_run=True)

    assert len(composed) == FILES  # discovery (each rewrite is proven from the bytes)
    assert plan(again) == plan(first)
    assert "cycle caches ignored: written by" in caplog.text
    assert kept_row(bot)[1] == made_with  # written again by this version


def test_caches_for_another_max_file_bytes_are_ignored(bot: Bot, fleet, monkeypatch):
    _, remote = fleet
    bot.run(remote, dry_run=True)
    new_process(bot)
    composed = counting_composes(monkeypatch)

    report = bot.run(remote, dry_run=True, max_file_bytes=100)

    assert composed == []  # every file is now over the limit: skipped unread, not reused
    assert report.applied == []
    assert {issue.file for issue in report.skipped} == {
        f"apps/web-{i:02d}.yaml" for i in range(FILES)
    }


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"not a pickle at all", id="garbage"),
        pytest.param(lambda data: pickle.dumps({"something": "else"}), id="another-shape"),
    ],
)
def test_a_damaged_cache_row_is_ignored_and_the_cycle_reads_the_files(
    bot: Bot, fleet, monkeypatch, damage, caplog: pytest.LogCaptureFixture
):
    _, remote = fleet
    first = bot.run(remote, dry_run=True)
    _, _, data = kept_row(bot)
    with bot.store.transaction() as db:
        db.execute("UPDATE cycle_caches SET data = ?", (damage(data),))
    new_process(bot)
    composed = counting_composes(monkeypatch)

    with caplog.at_level(logging.DEBUG, logger="imagebot.update.cyclecache"):
        again = bot.run(remote, dry_run=True)

    assert len(composed) == FILES
    assert plan(again) == plan(first)
    assert "cycle caches ignored, unreadable" in caplog.text
    assert kept_row(bot)[2] != damage(data)  # replaced by a good one


class _Planted:
    """A pickle that would create a directory when loaded by an unrestricted unpickler."""

    def __init__(self, where: Path) -> None:
        self.where = where

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.mkdir, (str(self.where),))


def test_a_cache_row_naming_anything_but_our_value_types_is_never_run(
    bot: Bot, fleet, tmp_path: Path
):
    _, remote = fleet
    first = bot.run(remote, dry_run=True)
    planted = tmp_path / "planted"
    with bot.store.transaction() as db:
        db.execute(
            "UPDATE cycle_caches SET data = ?",
            (pickle.dumps((cyclecache.FORMAT, _Planted(planted), {}, None)),),
        )
    new_process(bot)

    again = bot.run(remote, dry_run=True)

    assert not planted.exists()
    assert plan(again) == plan(first)


def test_caches_over_the_size_limit_are_not_kept(
    bot: Bot, fleet, monkeypatch, caplog: pytest.LogCaptureFixture
):
    _, remote = fleet
    monkeypatch.setattr(cyclecache, "MAX_BYTES", 1000)

    with caplog.at_level(logging.INFO, logger="imagebot.update.cyclecache"):
        bot.run(remote, dry_run=True)

    assert bot.store.query("SELECT checkout FROM cycle_caches") == []
    assert "over the 1000-byte limit" in caplog.text


def test_a_commit_made_by_one_process_is_seen_by_the_next(bot: Bot, fleet, monkeypatch):
    """The rewrite that was committed is not offered again: the next process sees the new
    blobs and reads those files."""
    _, remote = fleet
    first = bot.run(remote)
    assert len(first.applied) == FILES
    assert first.commit
    new_process(bot)
    composed = counting_composes(monkeypatch)

    again = bot.run(remote)

    assert again.applied == []
    assert again.commit is None
    assert len(composed) == FILES


def test_imagebot_scan_twice_prints_the_same_plan(bot: Bot, fleet, tmp_path: Path):
    _, remote = fleet
    work = checkout(remote, tmp_path / "work")
    config = tmp_path / "imagebot.yaml"
    config.write_text(f"state_dir: {tmp_path / 'scan-state'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOT_")}
    args = ("scan", "--config", str(config), "--repo", str(work), "--dry-run")

    first, second = run_cli(*args, env=env), run_cli(*args, env=env)
    first_json, second_json = (run_cli(*args, "--output", "json", env=env) for _ in range(2))

    assert first.returncode == 0, first.stderr
    assert first.stdout.count("UPDATE") == FILES
    assert second.stdout == first.stdout
    assert _without_timings(second_json.stdout) == _without_timings(first_json.stdout)


def _without_timings(text: str) -> dict[str, object]:
    data = json.loads(text)
    for key in ("duration", "registry_seconds", "cpu_seconds"):
        data.pop(key)
    return data


def test_a_chart_yaml_added_makes_a_kept_file_a_helm_template(bot: Bot, fleet, tmp_path: Path):
    """What a file gives depends on the charts around it, not only on its bytes: a new
    Chart.yaml beside ``templates/`` turns a kept file's sites into a skipped template."""
    app, remote = fleet
    template = b"# {{- if .Values.on }} (a comment to YAML, a directive to Helm)\n" + deployment(
        "tpl", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0")
    )
    writer = Writer(remote, tmp_path / "writer")
    writer.commit_and_push("chart/templates/deploy.yaml", template)
    first = bot.run(remote, dry_run=True)
    assert "chart/templates/deploy.yaml" in {r.site.file for r in first.applied}
    writer.commit_and_push("chart/Chart.yaml", b"apiVersion: v2\nname: chart\nversion: 1.0.0\n")
    new_process(bot)

    again = bot.run(remote, dry_run=True)

    assert "chart/templates/deploy.yaml" not in {r.site.file for r in again.applied}
    assert len(again.applied) == FILES
    assert [s.file for s in again.skipped] == ["chart/templates/deploy.yaml"]
