"""The state store: tag cache, image metadata by digest, history, service state.

Two backends behind one :class:`Store`: an SQLite file in the state directory (the default)
and PostgreSQL (``state.url: postgresql://...``, :mod:`imagebot.store_pg`) for several
replicas. Callers write SQL once, in SQLite's spelling (``?`` placeholders, ``INSERT OR
REPLACE``, ``LIKE`` ignoring ASCII case); :class:`Dialect` translates it for PostgreSQL
(:class:`PostgresDialect`), so every query has one copy.

SQLite: two processes (``imagebot run`` and a one-off ``imagebot tags``) may open the same
file, so the database runs in WAL mode (readers never block the writer) with a busy timeout,
and every write is a short ``BEGIN IMMEDIATE`` transaction.

Schema changes are :data:`MIGRATIONS`, an ordered list applied once each, on both backends,
and recorded as the schema version (SQLite: ``PRAGMA user_version``; PostgreSQL: the table
``imagebot_schema``). To add tables, append a migration (types ``TEXT``, ``INTEGER``,
``REAL``, ``INTEGER PRIMARY KEY AUTOINCREMENT``: the dialect maps them); never edit one
that shipped.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from imagebot.config import Config
from imagebot.errors import ImagebotError, StoreError

BUSY_TIMEOUT_MS = 10_000


#: What to do about a corrupt store (it holds caches, history and what the service saw).
CORRUPT_HINT = (
    "the file is damaged (a disk error, or copied while in use): move it aside and imagebot "
    "starts a new one (the caches refill; the update history is lost), or restore a backup"
)


def _corrupt_store(path: Path, exc: sqlite3.Error) -> StoreError:
    return StoreError(
        f"{path}: not a usable imagebot state store: it is corrupt ({exc})",
        hint=CORRUPT_HINT,
        corrupt=True,
    )


def _corrupt(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    text = str(exc)
    return name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or (
        "malformed" in text or "not a database" in text
    )


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Dialect:
    """How SQL written for SQLite reads on a backend; SQLite's own is the identity."""

    name = "sqlite"

    def statement(self, sql: str) -> str:
        """A statement with ``?`` placeholders, as this backend takes it."""
        return sql

    def schema(self, sql: str) -> str:
        """A migration's statement (no parameters), as this backend takes it."""
        return sql


#: A string literal, a quoted identifier or a comment: never translated.
_OPAQUE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*")
_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(REPLACE|IGNORE)\s+INTO\s+(\w+)\s*\(([^)]*)\)", re.I)


def _outside_literals(sql: str, change: Callable[[str], str]) -> str:
    """*sql* with *change* applied to every part outside literals, identifiers, comments."""
    out, last = [], 0
    for match in _OPAQUE.finditer(sql):
        out.append(change(sql[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(change(sql[last:]))
    return "".join(out)


class PostgresDialect(Dialect):
    """SQLite's spelling for PostgreSQL.

    - ``?`` becomes ``%s`` and a literal ``%`` ``%%`` (psycopg's placeholders);
    - ``LIKE`` becomes ``ILIKE`` (SQLite's LIKE ignores ASCII case);
    - ``user``, reserved in PostgreSQL, is quoted as the column it is here;
    - ``INSERT OR IGNORE`` becomes ``ON CONFLICT DO NOTHING``; ``INSERT OR REPLACE`` an
      upsert on the table's primary key (*primary_key* tells it, from the catalog);
    - in migrations: ``REAL`` is ``DOUBLE PRECISION`` (SQLite's REAL is 8 bytes),
      ``INTEGER`` ``BIGINT``, ``INTEGER PRIMARY KEY AUTOINCREMENT`` an identity column,
      ``BLOB`` ``BYTEA``.
    """

    name = "postgresql"

    def __init__(self, primary_key: Callable[[str], Sequence[str]]) -> None:
        self._primary_key = primary_key

    @functools.lru_cache(maxsize=512)  # noqa: B019 (one dialect per store, few statements)
    def statement(self, sql: str) -> str:
        suffix = ""
        match = _INSERT_OR.match(sql)
        if match:
            verb, table, columns = match.groups()
            sql = f"INSERT INTO {table} ({columns})" + sql[match.end() :]
            if verb.upper() == "IGNORE":
                suffix = " ON CONFLICT DO NOTHING"
            else:
                key = list(self._primary_key(table))
                names = [c.strip() for c in columns.split(",") if c.strip()]
                updates = [f"{c} = excluded.{c}" for c in names if c not in key]
                suffix = f" ON CONFLICT ({', '.join(key)}) " + (
                    f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
                )
        return _outside_literals(sql.rstrip().rstrip(";") + suffix, self._statement_part)

    @staticmethod
    def _statement_part(text: str) -> str:
        text = text.replace("%", "%%").replace("?", "%s")
        text = re.sub(r"\bLIKE\b", "ILIKE", text, flags=re.I)
        return re.sub(r"\buser\b", '"user"', text, flags=re.I)

    def schema(self, sql: str) -> str:
        return _outside_literals(sql, self._schema_part)

    @staticmethod
    def _schema_part(text: str) -> str:
        text = re.sub(
            r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            text,
            flags=re.I,
        )
        text = re.sub(r"\bREAL\b", "DOUBLE PRECISION", text, flags=re.I)
        text = re.sub(r"\bINTEGER\b", "BIGINT", text, flags=re.I)
        text = re.sub(r"\bBLOB\b", "BYTEA", text, flags=re.I)
        return re.sub(r"\buser\b", '"user"', text, flags=re.I)


class Session:
    """One connection inside a transaction, taking SQL in SQLite's spelling."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self._connection = connection
        self.dialect = dialect

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        cursor: Cursor = self._connection.execute(self.dialect.statement(sql), tuple(parameters))
        return cursor

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Cursor:
        cursor = self._connection.cursor()
        cursor.executemany(self.dialect.statement(sql), [tuple(row) for row in rows])
        return cursor

    def lock(self, *key: str) -> None:
        """Hold a lock named *key* until the transaction ends: a read-then-write on a row
        that may not exist yet stays one step for every process (PostgreSQL: an advisory
        lock; SQLite's write transaction excludes all others already)."""
        if self.dialect.name == "postgresql":
            self._connection.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("\x1f".join(key),)
            )

    def script(self, sql: str) -> None:
        """A migration's statements, one by one (no parameters)."""
        for statement in _statements(sql):
            self._connection.execute(self.dialect.schema(statement))


@dataclass(frozen=True)
class Migration:
    """One schema step: SQL statements (a script, in SQLite's spelling: see
    :class:`PostgresDialect` for what the PostgreSQL store reads them as) or a function of
    the :class:`Session`, for both backends (``session.dialect.name`` tells them apart)."""

    name: str
    apply: str | Callable[[Session], None]


MIGRATIONS: list[Migration] = [
    Migration(
        "registry caches: tag lists and image metadata",
        """
        CREATE TABLE tag_cache (
            repository TEXT PRIMARY KEY,
            tags       TEXT NOT NULL,   -- JSON list, in registry order
            dropped    TEXT NOT NULL,   -- JSON list of tags that broke the OCI grammar
            fetched_at REAL NOT NULL    -- Unix time
        );
        CREATE TABLE image_metadata (
            digest     TEXT PRIMARY KEY,
            media_type TEXT NOT NULL,
            platforms  TEXT NOT NULL,   -- JSON list of os/arch[/variant]
            created    TEXT,            -- ISO 8601 build time, NULL when unknown
            fetched_at REAL NOT NULL
        );
        """,
    ),
    Migration(
        "history of applied updates",
        """
        CREATE TABLE history (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            time         REAL NOT NULL,   -- Unix time the change was committed
            repository   TEXT NOT NULL,   -- repository name (repositories[].name or from URL)
            url          TEXT,            -- remote URL, credentials removed
            branch       TEXT NOT NULL,   -- branch the change is for
            target       TEXT NOT NULL,   -- branch it was pushed to (the bot's in PR mode)
            mode         TEXT NOT NULL,   -- direct, branch, pull-request, release
            file         TEXT NOT NULL,
            workload     TEXT NOT NULL,   -- namespace:kind/name
            container    TEXT NOT NULL,
            image        TEXT NOT NULL,   -- repository, e.g. docker.io/library/alpine
            old_tag      TEXT,
            new_tag      TEXT,
            old_digest   TEXT,
            new_digest   TEXT,
            policy       TEXT,
            commit_sha   TEXT,
            pull_request TEXT,
            pushed       INTEGER NOT NULL
        );
        CREATE INDEX history_by_repository ON history (repository, time);
        """,
    ),
    Migration(
        "tag digests: which digest a tag pointed at, and when that was seen",
        """
        CREATE TABLE tag_digests (
            repository TEXT NOT NULL,
            tag        TEXT NOT NULL,
            digest     TEXT NOT NULL,
            fetched_at REAL NOT NULL,
            PRIMARY KEY (repository, tag)
        );
        """,
    ),
    Migration(
        "service state: tags seen per image, images per Git repository",
        """
        CREATE TABLE service_seen_tags (
            image   TEXT PRIMARY KEY,   -- image repository, e.g. ghcr.io/org/app
            tags    TEXT NOT NULL,      -- JSON list: the tags the service last saw
            seen_at REAL NOT NULL       -- Unix time
        );
        CREATE TABLE service_repository_images (
            repository TEXT PRIMARY KEY,  -- repositories[].name (or from its URL)
            images     TEXT NOT NULL,     -- JSON list of the image repositories it uses
            updated_at REAL NOT NULL
        );
        """,
    ),
    Migration(
        "the Deploy view: each container's status, manual events, approval decisions",
        """
        CREATE TABLE fleet_status (
            repository TEXT NOT NULL,     -- repositories[].name
            workload   TEXT NOT NULL,     -- namespace:kind/name
            container  TEXT NOT NULL,
            file       TEXT NOT NULL,
            namespace  TEXT NOT NULL,     -- '' for none
            image      TEXT NOT NULL,     -- as written
            current    TEXT,
            latest     TEXT,
            behind     INTEGER NOT NULL,
            status     TEXT NOT NULL,     -- up-to-date, update, held, ... (operations.fleet)
            data       TEXT NOT NULL,     -- JSON: the whole row
            updated_at REAL NOT NULL,
            PRIMARY KEY (repository, workload, container, file)
        );
        CREATE INDEX fleet_status_by_status ON fleet_status (status);
        CREATE TABLE events (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            time         REAL NOT NULL,
            repository   TEXT NOT NULL,
            workload     TEXT NOT NULL,
            action       TEXT NOT NULL,   -- lock, unlock, automate, ..., approve, reject
            user         TEXT,
            subject      TEXT NOT NULL,
            message      TEXT,
            commit_sha   TEXT,
            pull_request TEXT
        );
        CREATE INDEX events_by_time ON events (time);
        CREATE TABLE approvals (
            repository TEXT NOT NULL,
            workload   TEXT NOT NULL,
            container  TEXT NOT NULL,
            tag        TEXT NOT NULL,     -- the update decided on
            decision   TEXT NOT NULL,     -- approved | rejected
            user       TEXT,
            time       REAL NOT NULL,
            PRIMARY KEY (repository, workload, container, tag)
        );
        """,
    ),
    Migration(
        "supply-chain gates: when each tag's digest was first seen, signature verdicts",
        """
        CREATE TABLE tag_first_seen (
            repository TEXT NOT NULL,    -- image repository, e.g. ghcr.io/org/app
            tag        TEXT NOT NULL,
            digest     TEXT NOT NULL,    -- the digest the tag pointed at
            first_seen REAL NOT NULL,    -- Unix time imagebot first saw the tag at this digest
            PRIMARY KEY (repository, tag)
        );
        CREATE TABLE signature_verdicts (
            repository TEXT NOT NULL,    -- the image the signature must name
            digest     TEXT NOT NULL,    -- the signed manifest (index) digest
            keys       TEXT NOT NULL,    -- fingerprint of the verifier's key set
            signer     TEXT NOT NULL,    -- which key signed
            detail     TEXT NOT NULL,
            checked_at REAL NOT NULL,
            PRIMARY KEY (repository, digest, keys)
        );
        """,
    ),
    Migration(
        "reconciler reports: what reached the cluster, each change's applied state",
        """
        ALTER TABLE history ADD COLUMN applied_at REAL;        -- a reconciler applied a
                                                               -- revision containing the commit
        ALTER TABLE history ADD COLUMN applied_revision TEXT;  -- that revision
        ALTER TABLE history ADD COLUMN applied_by TEXT;        -- "Kustomization flux-system/apps"
        ALTER TABLE history ADD COLUMN failed_at REAL;         -- a reconciler failed on a
                                                               -- revision containing it
        ALTER TABLE history ADD COLUMN failure TEXT;           -- what it said
        CREATE TABLE reconciler_reports (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            time       REAL NOT NULL,     -- Unix time received
            receiver   TEXT NOT NULL,     -- service.webhooks name
            source     TEXT NOT NULL,     -- flux | argocd
            object     TEXT NOT NULL,     -- "Kustomization flux-system/apps"
            revision   TEXT NOT NULL,     -- commit id (maybe abbreviated), lowercase
            outcome    TEXT NOT NULL,     -- applied | failed
            reason     TEXT,
            message    TEXT,
            repository TEXT               -- the repository whose checkout has the revision;
                                          -- NULL until one has (then matched)
        );
        CREATE INDEX reconciler_reports_pending ON reconciler_reports (repository, time);
        """,
    ),
    Migration(
        "divergence: when each change landed on the branch reconcilers read",
        """
        ALTER TABLE history ADD COLUMN landed_at REAL;   -- Unix time the commit was first seen
                                                         -- on the branch (NULL: not yet, or
                                                         -- no reconciler receiver then)
        """,
    ),
    Migration(
        "service markers: when something was first switched on",
        """
        CREATE TABLE service_markers (
            name TEXT PRIMARY KEY,   -- e.g. 'reconcilers': a flux or argocd receiver
            time REAL NOT NULL       -- Unix time the service first ran with it
        );
        """,
    ),
    Migration(
        "squash and rebase merges: the commit on the branch that carries a change",
        """
        ALTER TABLE history ADD COLUMN landed_commit TEXT;  -- the commit on the branch that
                                                            -- set the tag, when imagebot's own
                                                            -- commit is not there (its pull
                                                            -- request squashed or rebased)
        """,
    ),
    Migration(
        "divergence told: which workloads the service last saw diverged, across restarts",
        """
        CREATE TABLE diverged_workloads (
            repository TEXT NOT NULL,
            workload   TEXT NOT NULL,   -- diverged when the service last looked (told once
                                        -- as diverged; told as converged when none is left)
            PRIMARY KEY (repository, workload)
        );
        """,
    ),
    Migration(
        "scheduled work claimed by one replica per interval (service/queue.py)",
        """
        CREATE TABLE service_claims (
            key    TEXT PRIMARY KEY,  -- scan:<image repository> | cycle:<repository name>
            due_at REAL NOT NULL      -- Unix time the next scheduled run is due
        );
        """,
    ),
    Migration(
        "registry request rates shared by the processes of a store (Store.reserve_request)",
        """
        CREATE TABLE registry_rates (
            host    TEXT PRIMARY KEY,  -- the host contacted (a mirror when one is set)
            next_at REAL NOT NULL      -- Unix time: the theoretical next request (GCRA)
        );
        """,
    ),
    Migration(
        "cycle caches kept between processes, per checkout (update/cyclecache.py)",
        """
        CREATE TABLE cycle_caches (
            checkout  TEXT PRIMARY KEY,  -- the checkout's path on this machine
            made_with TEXT NOT NULL,     -- what wrote it: imagebot version, format, code
                                         -- fingerprint, settings; read only when equal
            data      BLOB NOT NULL,     -- discovery's and the rewrites' caches, serialized
            saved_at  REAL NOT NULL      -- Unix time
        );
        """,
    ),
]


@dataclass(frozen=True)
class CachedTags:
    repository: str
    tags: list[str]
    dropped: list[str]
    fetched_at: datetime


@dataclass(frozen=True)
class ImageRecord:
    digest: str
    media_type: str
    platforms: list[str]
    created: datetime | None


def is_database_url(location: object) -> bool:
    """Whether *location* names a PostgreSQL database rather than an SQLite file."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


class Store:
    """The state database; ``with Store.open(path_or_url) as store: ...``.

    This class is the SQLite store (one connection, shared by threads under a lock);
    :class:`imagebot.store_pg.PostgresStore` overrides how connections and the schema
    version are had, nothing else.
    """

    dialect: Dialect = Dialect()

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self._lock = threading.RLock()
        self._held: set[str] = set()
        self.path: Path | str = path

    @property
    def location(self) -> str:
        """The file, or the database URL without its password: safe to print."""
        return str(self.path)

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        migrations: Sequence[Migration] | None = None,
        pool_size: int = 8,
        upgrade: bool = True,
    ) -> Store:
        """Open (creating it and its directory if needed) and bring the schema up to date
        (with *upgrade* false: only refuse a schema newer than this imagebot's).

        *path* is an SQLite file, or a ``postgresql://`` URL (:mod:`imagebot.store_pg`,
        with at most *pool_size* connections)."""
        if is_database_url(path):
            from imagebot.store_pg import PostgresStore

            return PostgresStore.connect(
                str(path), migrations=migrations, pool_size=pool_size, upgrade=upgrade
            )
        path = Path(path).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{path}: cannot open the state store: {exc}") from None
        store = cls(connection, path)
        try:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: the state store cannot use WAL mode (got {mode})")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
            store._migrate(MIGRATIONS if migrations is None else migrations, upgrade=upgrade)
        except sqlite3.DatabaseError as exc:
            connection.close()
            if _corrupt(exc):
                raise _corrupt_store(path, exc) from None
            raise StoreError(f"{path}: not a usable imagebot state store: {exc}") from None
        except BaseException:
            connection.close()
            raise
        return store

    @classmethod
    def open_for_reading(cls, path: Path | str) -> Store:
        """Open to read: as :meth:`open` where the store is writable, else read-only (a
        read-only volume or copy) without creating, upgrading or writing anything."""
        if is_database_url(path):
            return cls.open(path)
        try:
            return cls.open(path)
        except StoreError as exc:
            path = Path(path).expanduser()
            if exc.corrupt or not path.is_file():
                raise
            return cls._open_read_only(path, exc)

    @classmethod
    def _open_read_only(cls, path: Path, why: StoreError) -> Store:
        last: sqlite3.Error | None = None
        # mode=ro reads a WAL store when its -shm file can be used; immutable=1 when it
        # cannot (a read-only directory), taking the file as it is.
        for query in ("mode=ro", "mode=ro&immutable=1"):
            try:
                connection = sqlite3.connect(
                    f"{path.as_uri()}?{query}", uri=True, isolation_level=None,
                    check_same_thread=False,
                )  # fmt: skip
            except sqlite3.Error as exc:
                last = exc
                continue
            try:
                version = int(connection.execute("PRAGMA user_version").fetchone()[0])
                connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                connection.close()
                if _corrupt(exc):
                    raise _corrupt_store(path, exc) from None
                last = exc
                continue
            if version != len(MIGRATIONS):
                connection.close()
                raise StoreError(
                    f"{path}: the read-only state store has schema version {version}, this "
                    f"imagebot reads {len(MIGRATIONS)}",
                    hint="open it once with write access (any imagebot command) to upgrade it",
                )
            return cls(connection, path)
        raise StoreError(f"{why} (and cannot be read as read-only: {last})") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    #: Whether other processes share this store (replicas): :meth:`try_lock` then holds
    #: across them.
    shared = False

    def ping(self, timeout: float = 3.0) -> bool:
        """Whether the store answers (readiness); False rather than an error, within about
        *timeout* seconds for a database server."""
        try:
            self.query("SELECT 1")
        except sqlite3.Error:
            return False
        return True

    def try_lock(self, key: str) -> Callable[[], None] | None:
        """Take the lock named *key* if nobody holds it: its release function, else None.
        For work that one process should do while the others wait for its result (listing
        an image repository). SQLite: within this process; PostgreSQL: fleet-wide."""
        with self._lock:
            if key in self._held:
                return None
            self._held.add(key)

        def release() -> None:
            with self._lock:
                self._held.discard(key)

        return release

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def tables(self) -> set[str]:
        """The names of the tables in the store."""
        rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(r[0]) for r in rows} - {"sqlite_sequence"}

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, else rolled back."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Session(self._db, self.dialect)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only statement (by index or column name)."""
        with self._lock:
            cursor = self._db.execute(sql, parameters)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def _migrate(self, migrations: Sequence[Migration], *, upgrade: bool = True) -> None:
        with self.transaction() as db:  # IMMEDIATE: two processes never migrate at once
            current = int(db.execute("PRAGMA user_version").fetchone()[0])
            self._check_version(current, migrations)
            if not upgrade:
                return
            for number, migration in enumerate(migrations[current:], start=current + 1):
                _apply(migration, db)
                db.execute(f"PRAGMA user_version = {number}")

    def _check_version(self, current: int, migrations: Sequence[Migration]) -> None:
        if current > len(migrations):
            raise StoreError(
                f"{self.location}: the state store has schema version {current}, newer than "
                f"this imagebot knows ({len(migrations)})",
                hint="upgrade imagebot, or point it at another store (state_dir or state.url)",
            )

    # ----------------------------------------------------------------------------------
    # Registry request rate shared by every process of the store
    # ----------------------------------------------------------------------------------

    def reserve_request(
        self, host: str, rate: float, burst: float, *, now: float | None = None
    ) -> float:
        """Reserve the next request to *host* under *rate* requests per second with bursts
        of *burst*, for every process sharing the store: the seconds to wait before sending
        it (a generic cell rate algorithm: ``next_at`` is when the next request would be
        due at the steady rate; a request may start up to ``burst - 1`` intervals early)."""
        now = time.time() if now is None else now
        interval = 1.0 / rate
        with self.transaction() as db:
            db.lock("registry_rates", host)
            row = db.execute(
                "SELECT next_at FROM registry_rates WHERE host = ?", (host,)
            ).fetchone()
            due = float(row[0]) if row is not None else now
            start = max(now, due - (max(1.0, burst) - 1) * interval)
            db.execute(
                "INSERT INTO registry_rates (host, next_at) VALUES (?, ?) "
                "ON CONFLICT (host) DO UPDATE SET next_at = excluded.next_at",
                (host, max(due, now) + interval),
            )
        return start - now

    # ----------------------------------------------------------------------------------
    # Tag cache
    # ----------------------------------------------------------------------------------

    def get_tags(self, repository: str, *, max_age: float | None = None) -> CachedTags | None:
        """The cached tag list of *repository*, if any (and no older than *max_age* seconds)."""
        rows = self.query(
            "SELECT tags, dropped, fetched_at FROM tag_cache WHERE repository = ?", (repository,)
        )
        if not rows:
            return None
        tags, dropped, fetched_at = rows[0]
        if max_age is not None and time.time() - fetched_at > max_age:
            return None
        return CachedTags(
            repository,
            json.loads(tags),
            json.loads(dropped),
            datetime.fromtimestamp(fetched_at, UTC),
        )

    def put_tags(
        self,
        repository: str,
        tags: Sequence[str],
        dropped: Sequence[str] = (),
        *,
        fetched_at: datetime | None = None,
    ) -> None:
        stamp = (fetched_at or datetime.now(UTC)).timestamp()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO tag_cache (repository, tags, dropped, fetched_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (repository) DO UPDATE SET tags = excluded.tags, "
                "dropped = excluded.dropped, fetched_at = excluded.fetched_at",
                (repository, json.dumps(list(tags)), json.dumps(list(dropped)), stamp),
            )

    def forget_tags(self, repository: str) -> None:
        """Drop a cached list (a webhook said the repository changed)."""
        with self.transaction() as db:
            db.execute("DELETE FROM tag_cache WHERE repository = ?", (repository,))

    def prune_tags(self, older_than: float) -> int:
        """Delete tag lists fetched more than *older_than* seconds ago; returns how many."""
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM tag_cache WHERE fetched_at < ?", (time.time() - older_than,)
            )
            return cursor.rowcount

    # ----------------------------------------------------------------------------------
    # Tag -> digest (tags can move: kept with the time they were seen)
    # ----------------------------------------------------------------------------------

    def get_tag_digest(self, repository: str, tag: str, *, max_age: float) -> str | None:
        """The digest *tag* pointed at no more than *max_age* seconds ago, if known."""
        rows = self.query(
            "SELECT digest FROM tag_digests WHERE repository = ? AND tag = ? AND fetched_at >= ?",
            (repository, tag, time.time() - max_age),
        )
        return str(rows[0][0]) if rows else None

    def put_tag_digest(self, repository: str, tag: str, digest: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO tag_digests (repository, tag, digest, fetched_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, "
                "fetched_at = excluded.fetched_at",
                (repository, tag, digest, time.time()),
            )

    # ----------------------------------------------------------------------------------
    # Image metadata by digest (immutable, kept forever)
    # ----------------------------------------------------------------------------------

    def get_image(self, digest: str) -> ImageRecord | None:
        rows = self.query(
            "SELECT media_type, platforms, created FROM image_metadata WHERE digest = ?", (digest,)
        )
        if not rows:
            return None
        media_type, platforms, created = rows[0]
        return ImageRecord(
            digest,
            media_type,
            json.loads(platforms),
            datetime.fromisoformat(created) if created else None,
        )

    def put_image(
        self,
        digest: str,
        media_type: str,
        platforms: Sequence[str],
        created: datetime | None,
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO image_metadata "
                "(digest, media_type, platforms, created, fetched_at) VALUES (?, ?, ?, ?, ?)",
                (
                    digest,
                    media_type,
                    json.dumps(list(platforms)),
                    created.isoformat() if created else None,
                    time.time(),
                ),
            )

    # ----------------------------------------------------------------------------------
    # Supply-chain gates: first sight of a tag's digest, valid signatures
    # ----------------------------------------------------------------------------------

    def first_seen(self, repository: str, tag: str, digest: str, now: datetime) -> datetime:
        """When imagebot first saw *tag* point at *digest*, recording *now* when it had not
        (a tag now at another digest than recorded starts again: a re-push is new)."""
        stamp = now.timestamp()
        with self.transaction() as db:
            db.lock("tag_first_seen", repository, tag)  # replicas: one first sight
            row = db.execute(
                "SELECT digest, first_seen FROM tag_first_seen WHERE repository = ? AND tag = ?",
                (repository, tag),
            ).fetchone()
            if row is not None and row[0] == digest:
                return datetime.fromtimestamp(row[1], UTC)
            db.execute(
                "INSERT INTO tag_first_seen (repository, tag, digest, first_seen) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (repository, tag) DO UPDATE SET "
                "digest = excluded.digest, first_seen = excluded.first_seen",
                (repository, tag, digest, stamp),
            )
        return datetime.fromtimestamp(stamp, UTC)

    def valid_signature(self, repository: str, digest: str, keys: str) -> tuple[str, str] | None:
        """``(signer, detail)`` of a valid signature found before for this digest and keys."""
        rows = self.query(
            "SELECT signer, detail FROM signature_verdicts "
            "WHERE repository = ? AND digest = ? AND keys = ?",
            (repository, digest, keys),
        )
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def put_valid_signature(
        self, repository: str, digest: str, keys: str, signer: str, detail: str
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO signature_verdicts "
                "(repository, digest, keys, signer, detail, checked_at) VALUES (?, ?, ?, ?, ?, ?)",
                (repository, digest, keys, signer, detail, time.time()),
            )

    # ----------------------------------------------------------------------------------
    # What an update cycle keeps per checkout (imagebot.update.cyclecache)
    # ----------------------------------------------------------------------------------

    def get_cycle_cache(self, checkout: str) -> tuple[str, bytes] | None:
        """``(made_with, data)`` kept for *checkout*, if any (read by
        :mod:`imagebot.update.cyclecache`, which checks both)."""
        rows = self.query(
            "SELECT made_with, data FROM cycle_caches WHERE checkout = ?", (checkout,)
        )
        return (str(rows[0][0]), bytes(rows[0][1])) if rows else None

    def put_cycle_cache(self, checkout: str, made_with: str, data: bytes) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO cycle_caches (checkout, made_with, data, saved_at) "
                "VALUES (?, ?, ?, ?)",
                (checkout, made_with, data, time.time()),
            )

    def forget_cycle_cache(self, checkout: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM cycle_caches WHERE checkout = ?", (checkout,))


def _apply(migration: Migration, db: Session) -> None:
    if isinstance(migration.apply, str):
        db.script(migration.apply)
    else:
        migration.apply(db)


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into statements (executescript would commit our transaction)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            if statement:
                yield statement
            buffer = ""
    if buffer.strip():
        yield buffer.strip()


STORE_FILE = "imagebot.sqlite3"


def store_path(config: Config) -> Path | str:
    """Where the store of *config* lives: its ``state.url`` (PostgreSQL) when it has one,
    else the file ``<state dir>/imagebot.sqlite3``."""
    url = config.state.resolved_url()
    return url if url else config.resolved_state_dir() / STORE_FILE


def open_store(config: Config) -> Store:
    """The store of *config* (:func:`store_path`), open and up to date."""
    return Store.open(store_path(config), pool_size=config.state.pool_size)


def migrate(config: Config) -> tuple[int, int]:
    """Bring the store of *config* up to date: its schema versions before and after
    (``imagebot store migrate``; every other command migrates on opening too)."""
    with Store.open(store_path(config), pool_size=1, upgrade=False) as store:
        before = store.schema_version
    with Store.open(store_path(config), pool_size=1) as store:
        return before, store.schema_version


@contextmanager
def optional_store(config: Config) -> Iterator[Store | None]:
    """The state store, closed afterwards; None (with a warning) when it cannot be opened.

    It only caches tags and image details for reads (``tags``, ``explain``), so they still
    work (slower) on a read-only disk rather than fail.
    """
    try:
        store = open_store(config)
    except ImagebotError as exc:
        logging.getLogger(__name__).warning("working without the state store: %s", exc)
        store = None
    try:
        yield store
    finally:
        if store is not None:
            store.close()
