"""The SQLite store: migrations, caches, and two processes at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagebot.store import MIGRATIONS, Migration, Store, StoreError


def test_opening_creates_the_directory_and_the_schema(tmp_path):
    path = tmp_path / "state" / "deep" / "imagebot.sqlite3"
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        tables = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"tag_cache", "image_metadata"} <= tables
    assert path.exists()


def test_journal_is_wal_so_readers_do_not_block_writers(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        assert store.query("PRAGMA journal_mode")[0][0] == "wal"


def test_appended_migrations_run_once_in_order(tmp_path):
    calls = []
    extra = [
        *MIGRATIONS,
        Migration("notes", "CREATE TABLE test_notes (id INTEGER PRIMARY KEY, note TEXT);"),
        Migration("python step", lambda db: calls.append(db.execute("SELECT 1").fetchone())),
    ]
    path = tmp_path / "s.db"
    with Store.open(path, migrations=extra) as store:
        assert store.schema_version == len(MIGRATIONS) + 2
        with store.transaction() as db:
            db.execute("INSERT INTO test_notes (note) VALUES ('x')")
    with Store.open(path, migrations=extra) as store:
        assert store.query("SELECT note FROM test_notes")[0][0] == "x"
    assert len(calls) == 1


def test_a_failing_migration_leaves_the_store_as_it_was(tmp_path):
    path = tmp_path / "s.db"
    Store.open(path).close()
    broken = [*MIGRATIONS, Migration("good", "CREATE TABLE a (x);"), Migration("bad", "NOPE;")]
    with pytest.raises(StoreError):
        Store.open(path, migrations=broken)
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert not store.query("SELECT name FROM sqlite_master WHERE name = 'a'")


def test_a_store_from_a_newer_imagebot_is_refused(tmp_path):
    path = tmp_path / "s.db"
    Store.open(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 999")
    db.close()
    with pytest.raises(StoreError, match="schema version 999, newer"):
        Store.open(path)


def test_a_file_that_is_no_database_is_a_clear_error(tmp_path):
    path = tmp_path / "s.db"
    path.write_text("not sqlite at all, just text that is long enough to have a header" * 10)
    with pytest.raises(StoreError, match="not a usable imagebot state store"):
        Store.open(path)


def test_tag_lists_round_trip_and_expire(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        store.put_tags("docker.io/library/alpine", ["3.19", "3.20"], ["-bad"])
        cached = store.get_tags("docker.io/library/alpine", max_age=60)
        assert cached is not None
        assert cached.tags == ["3.19", "3.20"]
        assert cached.dropped == ["-bad"]
        old = datetime(2020, 1, 1, tzinfo=UTC)
        store.put_tags("docker.io/library/alpine", ["3.19"], fetched_at=old)
        assert store.get_tags("docker.io/library/alpine", max_age=60) is None
        assert store.get_tags("docker.io/library/alpine").fetched_at == old
        assert store.prune_tags(older_than=60) == 1


def test_image_metadata_round_trips(tmp_path):
    created = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    with Store.open(tmp_path / "s.db") as store:
        store.put_image("sha256:" + "a" * 64, "application/x", ["linux/amd64"], created)
        store.put_image("sha256:" + "b" * 64, "application/y", [], None)
        first = store.get_image("sha256:" + "a" * 64)
        second = store.get_image("sha256:" + "b" * 64)
    assert (first.media_type, first.platforms, first.created) == (
        "application/x",
        ["linux/amd64"],
        created,
    )
    assert second.created is None


def _writer(path: str, worker: int, count: int) -> None:
    with Store.open(path) as store:
        for i in range(count):
            store.put_tags(f"example.com/w{worker}/r{i}", [str(i)])
            store.get_tags(f"example.com/w{1 - worker}/r{i}")


def test_two_processes_open_and_write_the_store_at_once(tmp_path: Path):
    path = str(tmp_path / "shared.db")  # neither process finds it: both race to create it
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(path, w, 150)) for w in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    with Store.open(path) as store:
        assert store.query("SELECT COUNT(*) FROM tag_cache")[0][0] == 300
        assert store.schema_version == len(MIGRATIONS)
