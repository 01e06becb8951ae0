"""The store on both backends (``store_location``: an SQLite file, a PostgreSQL database):
migrations, caches, and two processes at once. SQLite's own behaviour (WAL, a damaged file)
is tested on SQLite alone."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime

import pytest

from imagebot.store import MIGRATIONS, Migration, Store, StoreError


def set_schema_version(location: str, version: int) -> None:
    """Make the store at *location* claim *version* (as a newer imagebot would)."""
    with Store.open(location) as store, store.transaction() as db:
        if store.dialect.name == "sqlite":
            db.execute(f"PRAGMA user_version = {version}")
        else:
            db.execute("UPDATE imagebot_schema SET version = ?", (version,))


def test_opening_creates_the_directory_and_the_schema(tmp_path):
    path = tmp_path / "state" / "deep" / "imagebot.sqlite3"
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        tables = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"tag_cache", "image_metadata"} <= tables
    assert path.exists()


def test_a_new_store_has_every_table_at_the_latest_schema_version(store_location):
    with Store.open(store_location) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert {
            "tag_cache",
            "image_metadata",
            "history",
            "tag_digests",
            "service_seen_tags",
            "service_repository_images",
            "fleet_status",
            "events",
            "approvals",
        } <= store.tables()


def test_journal_is_wal_so_readers_do_not_block_writers(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        assert store.query("PRAGMA journal_mode")[0][0] == "wal"


def test_appended_migrations_run_once_in_order(store_location):
    calls = []
    extra = [
        *MIGRATIONS,
        Migration(
            "notes",
            "CREATE TABLE test_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT);",
        ),
        Migration("python step", lambda db: calls.append(db.execute("SELECT 1").fetchone())),
    ]
    path = store_location
    with Store.open(path, migrations=extra) as store:
        assert store.schema_version == len(MIGRATIONS) + 2
        with store.transaction() as db:
            db.execute("INSERT INTO test_notes (note) VALUES ('x')")
    with Store.open(path, migrations=extra) as store:
        assert store.query("SELECT note FROM test_notes")[0][0] == "x"
    assert len(calls) == 1


def test_a_failing_migration_leaves_the_store_as_it_was(store_location):
    path = store_location
    Store.open(path).close()
    broken = [
        *MIGRATIONS,
        Migration("good", "CREATE TABLE a (x TEXT);"),
        Migration("bad", "NOPE;"),
    ]
    with pytest.raises(StoreError):
        Store.open(path, migrations=broken)
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert "a" not in store.tables()


def test_a_store_from_a_newer_imagebot_is_refused(store_location):
    Store.open(store_location).close()
    set_schema_version(store_location, 999)
    with pytest.raises(StoreError, match="schema version 999, newer than this imagebot knows"):
        Store.open(store_location)


def test_a_file_that_is_no_database_is_a_clear_error(tmp_path):
    path = tmp_path / "s.db"
    path.write_text("not sqlite at all, just text that is long enough to have a header" * 10)
    with pytest.raises(StoreError, match="not a usable imagebot state store"):
        Store.open(path)


def test_tag_lists_round_trip_and_expire(store_location):
    with Store.open(store_location) as store:
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


def test_image_metadata_round_trips(store_location):
    created = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    with Store.open(store_location) as store:
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


def test_two_processes_open_and_write_the_store_at_once(store_location: str):
    path = store_location  # neither process finds it: both race to create the schema
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
