"""The state store on PostgreSQL (``state.url``): what several replicas share.

Same tables, same migrations and same queries as the SQLite store (:mod:`imagebot.store`):
only the connections, the schema version and the SQL spelling differ. Connections come from
a psycopg pool, in autocommit outside :meth:`PostgresStore.transaction`; a query inside a
transaction on the same thread runs on that transaction's connection, so it sees what the
transaction wrote (as SQLite's single connection does).

The schema version is the one row of ``imagebot_schema``; migrations run in one transaction
holding an advisory lock, so replicas starting together migrate once. The URL's password
never appears in a message (:func:`redact`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from imagebot.errors import StoreError
from imagebot.store import MIGRATIONS, Migration, PostgresDialect, Session, Store, _apply

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

#: pg_advisory_xact_lock key held while migrating ("imagebot" in ASCII).
MIGRATION_LOCK = 0x696D616765626F74
CONNECT_TIMEOUT = 10
POOL_TIMEOUT = 30.0


def redact(url: str) -> str:
    """*url* without a password (``user:pass@`` and ``password=`` parameters)."""
    url = re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", url)


class Row(tuple[Any, ...]):
    """A result row, by index or by column name (as ``sqlite3.Row``)."""

    _names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _rows(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, names)


class PostgresStore(Store):
    """A pool of connections to one PostgreSQL database (see the module docstring)."""

    def __init__(self, pool: ConnectionPool[Any], url: str) -> None:
        self._pool = pool
        self._lock = threading.RLock()
        self._local = threading.local()
        self._keys: dict[str, list[str]] = {}
        self._held: set[str] = set()
        self._lock_connection: psycopg.Connection[Any] | None = None
        self.path = url
        self.dialect = PostgresDialect(self._primary_key)

    @property
    def location(self) -> str:
        return redact(str(self.path))

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        migrations: Sequence[Migration] | None = None,
        pool_size: int = 8,
        upgrade: bool = True,
    ) -> PostgresStore:
        """Connect, bring the schema up to date, and open the pool."""
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise StoreError(
                f"{redact(url)}: a PostgreSQL store needs psycopg and psycopg_pool",
                hint="pip install 'imagebot[postgresql]'",
            ) from None
        try:
            with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, autocommit=True) as first:
                store = cls.__new__(cls)
                store.path = url
                store._keys = {}
                store.dialect = PostgresDialect(lambda table: _primary_key(first, table))
                store._migrate_on(
                    first, MIGRATIONS if migrations is None else migrations, upgrade=upgrade
                )
        except psycopg.Error as exc:
            raise StoreError(
                f"{redact(url)}: cannot use the PostgreSQL state store: "
                f"{str(exc).strip() or type(exc).__name__}",
                hint="check state.url (or the variable state.url_env names): the server is up "
                "and reachable, the database exists and the user may create tables in it",
            ) from None
        pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            timeout=POOL_TIMEOUT,
            open=False,
            name="imagebot-store",
        )
        pool.open(wait=False)
        return cls(pool, url)

    shared = True

    def close(self) -> None:
        self._pool.close()
        with self._lock:
            if self._lock_connection is not None:
                self._lock_connection.close()
                self._lock_connection = None

    def ping(self, timeout: float = 3.0) -> bool:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection(timeout=timeout) as connection:
                connection.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("%s: the state store does not answer: %s", self.location, exc)
            return False
        return True

    def try_lock(self, key: str) -> Callable[[], None] | None:
        """A session advisory lock on one connection kept for them (many keys may be held
        at once); a key held in this process counts as held. When that connection fails,
        the lock is granted without the database (the work is only done twice)."""
        import psycopg

        with self._lock:
            if key in self._held:
                return None
            try:
                if self._lock_connection is None or self._lock_connection.closed:
                    self._lock_connection = psycopg.connect(
                        str(self.path), autocommit=True, connect_timeout=CONNECT_TIMEOUT
                    )
                row = self._lock_connection.execute(
                    "SELECT pg_try_advisory_lock(hashtextextended(%s, 1))", (key,)
                ).fetchone()
                if not (row and row[0]):
                    return None
            except psycopg.Error as exc:
                log.warning("%s: cannot take the lock %s: %s", self.location, key, exc)
                self._lock_connection = None
            self._held.add(key)
            connection = self._lock_connection

        def release() -> None:
            with self._lock:
                self._held.discard(key)
                if connection is None or connection.closed:
                    return
                try:
                    connection.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 1))", (key,))
                except psycopg.Error as exc:
                    log.warning("%s: cannot release the lock %s: %s", self.location, key, exc)

        return release

    # --- what a cycle keeps per checkout -------------------------------------------

    def get_cycle_cache(self, checkout: str) -> tuple[str, bytes] | None:
        """None: nothing is kept here (see :meth:`put_cycle_cache`)."""
        return None

    def put_cycle_cache(self, checkout: str, made_with: str, data: bytes) -> None:
        """Nothing: a PostgreSQL store keeps no cycle caches (the table exists, empty, so
        that both backends have one schema). The caches spare a *new process* on one
        machine from reading its checkout again; the replicas sharing this store are
        long-running ``imagebot run`` processes that keep them in memory, each with
        checkouts of its own, and a few MiB per checkout sent to the database after
        every cycle that changed something would cost them more than it saves."""

    def forget_cycle_cache(self, checkout: str) -> None:
        """Nothing: see :meth:`put_cycle_cache`."""

    # --- connections --------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        active: Session | None = getattr(self._local, "session", None)
        if active is not None:
            yield active._connection
            return
        with self._pool.connection() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A transaction on one connection: committed on success, else rolled back."""
        if getattr(self._local, "session", None) is not None:
            raise StoreError(f"{self.location}: a transaction inside a transaction")
        with self._pool.connection() as connection, connection.transaction():
            session = Session(connection, self.dialect)
            self._local.session = session
            try:
                yield session
            finally:
                self._local.session = None

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        with self._connection() as connection:
            cursor = connection.cursor(row_factory=_rows)
            cursor.execute(self.dialect.statement(sql), tuple(parameters))
            return cursor.fetchall()

    def _primary_key(self, table: str) -> list[str]:
        if table not in self._keys:
            with self._connection() as connection:
                self._keys[table] = _primary_key(connection, table)
        return self._keys[table]

    # --- schema -------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        with self._connection() as connection:
            row = connection.execute("SELECT version FROM imagebot_schema").fetchone()
        return int(row[0]) if row else 0

    def tables(self) -> set[str]:
        rows = self.query(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        return {str(r[0]) for r in rows} - {"imagebot_schema"}

    def _migrate_on(
        self,
        connection: psycopg.Connection[Any],
        migrations: Sequence[Migration],
        *,
        upgrade: bool = True,
    ) -> None:
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            connection.execute("CREATE TABLE IF NOT EXISTS imagebot_schema (version BIGINT)")
            row = connection.execute("SELECT version FROM imagebot_schema").fetchone()
            if row is None:
                connection.execute("INSERT INTO imagebot_schema (version) VALUES (0)")
            current = int(row[0]) if row else 0
            self._check_version(current, migrations)
            if not upgrade:
                return
            session = Session(connection, self.dialect)
            for number, migration in enumerate(migrations[current:], start=current + 1):
                _apply(migration, session)
                connection.execute("UPDATE imagebot_schema SET version = %s", (number,))


def _primary_key(connection: psycopg.Connection[Any], table: str) -> list[str]:
    rows = connection.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (table,),
    ).fetchall()
    if not rows:
        raise StoreError(f"table {table} has no primary key: INSERT OR REPLACE needs one")
    return [str(r[0]) for r in rows]
