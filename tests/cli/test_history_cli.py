"""``imagebot history``: the recorded updates as a table (or JSON), newest first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagebot.config import Config
from imagebot.manifests import scan_bytes
from imagebot.store import Store, store_path
from imagebot.update import Resolution, history
from tests.cli.ux_support import invoke, run
from tests.update.helpers import deployment

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def update(name: str, old: str, new: str, namespace: str = "apps") -> Resolution:
    (site,) = scan_bytes(deployment(name, f"ghcr.io/org/{name}:{old}", namespace=namespace)).sites
    return Resolution(site, "update", "newer", policy="semver:*", new_tag=new)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state store holding three updates of two workloads."""
    where = tmp_path / "state"
    with Store.open(store_path(Config(state_dir=str(where)))) as store:
        common = {"url": "file:///fleet.git", "branch": "main", "target": "main"}
        history.record(
            store,
            [update("web", "1.0.0", "1.0.1")],
            repository="fleet",
            mode="direct",
            commit="a" * 40,
            pushed=True,
            when=T0,
            **common,
        )
        history.record(
            store,
            [update("api", "2.0.0", "2.1.0")],
            repository="fleet",
            mode="pull-request",
            commit="b" * 40,
            pushed=True,
            pull_request="https://forge/pr/7",
            when=T0 + 60,
            **common,
        )
        history.record(
            store,
            [update("web", "1.0.1", "1.0.2")],
            repository="fleet",
            mode="direct",
            commit="c" * 40,
            pushed=False,
            when=T0 + 120,
            **common,
        )
    return where


def test_the_table_has_a_header_and_a_row_per_update_newest_first(state: Path):
    result = run("history", state=state)

    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["TIME", "WORKLOAD", "CONTAINER", "CHANGE", "COMMIT"]
    assert [row.split()[2] for row in rows] == [
        "apps:deployment/web",
        "apps:deployment/api",
        "apps:deployment/web",
    ]
    assert "1.0.1 -> 1.0.2" in rows[0]
    assert "\x1b[" not in result.stdout
    assert all(line == line.rstrip() for line in result.stdout.splitlines())


def test_wide_adds_the_repository_mode_and_file_columns(state: Path):
    header, *rows = run("history", "--wide", state=state).stdout.splitlines()

    assert header.split() == [
        "TIME",
        "REPOSITORY",
        "WORKLOAD",
        "CONTAINER",
        "CHANGE",
        "MODE",
        "COMMIT",
        "FILE",
    ]
    assert rows[1].split()[2:4] == ["fleet", "apps:deployment/api"]
    assert rows[1].split()[-3:] == ["bbbbbbbbbbbb", "https://forge/pr/7", "manifest.yaml"]


def test_columns_line_up_on_a_pipe(state: Path):
    lines = run("history", "--wide", state=state).stdout.splitlines()

    starts = {line.index("fleet") for line in lines[1:]}
    assert starts == {lines[0].index("REPOSITORY")}


def test_the_commit_column_shows_pull_requests_and_unpushed_commits(state: Path):
    rows = run("history", state=state).stdout.splitlines()[1:]

    assert "cccccccccccc (not pushed)" in rows[0]
    assert "bbbbbbbbbbbb https://forge/pr/7" in rows[1]
    assert rows[2].endswith("  aaaaaaaaaaaa")


def test_json_has_every_recorded_field(state: Path):
    result = invoke("history", "--output", "json", state=state)

    entries = json.loads(result.stdout)
    assert len(entries) == 3
    assert entries[0] == {
        "time": "2023-11-14T22:15:20+00:00",
        "repository": "fleet",
        "url": "file:///fleet.git",
        "branch": "main",
        "target": "main",
        "mode": "direct",
        "file": "manifest.yaml",
        "workload": "apps:deployment/web",
        "container": "app",
        "image": "ghcr.io/org/web",
        "old_tag": "1.0.1",
        "new_tag": "1.0.2",
        "old_digest": None,
        "new_digest": None,
        "policy": "semver:*",
        "commit": "c" * 40,
        "pull_request": None,
        "pushed": False,
        "applied_at": None,
        "applied_by": None,
        "failure": None,
        "state": "committed",
    }


def test_what_a_reconciler_reported_shows_as_the_state_of_each_change(state: Path):
    with Store.open(store_path(Config(state_dir=str(state)))) as store, store.transaction() as db:
        db.execute(
            "UPDATE history SET applied_at = ?, applied_by = ? WHERE commit_sha = ?",
            (T0 + 300, "Kustomization flux-system/apps", "a" * 40),
        )
        db.execute(
            "UPDATE history SET failed_at = ?, failure = ? WHERE commit_sha = ?",
            (T0 + 300, "HelmRelease apps/api at bbbbbbbbbbbb: upgrade failed", "b" * 40),
        )

    rows = run("history", state=state).stdout.splitlines()[1:]
    entries = json.loads(invoke("history", "--output", "json", state=state).stdout)

    assert rows[2].endswith("aaaaaaaaaaaa (applied)")
    assert rows[1].endswith("(failed)")
    assert "bbbbbbbbbbbb" in rows[1]
    assert [e["state"] for e in entries] == ["committed", "failed", "applied"]
    assert entries[2]["applied_at"] == "2023-11-14T22:18:20+00:00"
    assert entries[2]["applied_by"] == "Kustomization flux-system/apps"


def test_workload_and_limit_narrow_the_list(state: Path):
    web = invoke("history", "--workload", "apps:deployment/web", "-o", "json", state=state)
    last = invoke("history", "--limit", "1", "-o", "json", state=state)

    assert [e["new_tag"] for e in json.loads(web.stdout)] == ["1.0.2", "1.0.1"]
    assert [e["new_tag"] for e in json.loads(last.stdout)] == ["1.0.2"]


def test_no_updates_says_so_on_stderr_and_exits_0(tmp_path: Path):
    result = invoke("history", state=tmp_path / "empty")

    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "No updates recorded yet.\n"


def test_a_limit_below_1_is_a_usage_error(state: Path):
    result = invoke("history", "--limit", "0", state=state)

    assert result.exit_code == 2
    assert "imagebot: error: Invalid value for '--limit'" in result.stderr
