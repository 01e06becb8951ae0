"""A real PostgreSQL server for tests: Debian's ``postgresql`` binaries, a temporary cluster.

``start_postgres()`` runs ``initdb`` and ``pg_ctl start`` in a fresh directory under the
system temp dir and serves on a Unix socket there only (no TCP port, so nothing to race for
and nothing reachable from elsewhere). PostgreSQL refuses to run as root, so as root the
cluster belongs to ``nobody`` and its programs run through ``runuser``; the socket stays
usable by root. Durability is off (``fsync``, ``full_page_writes``): tests never survive a
power cut, and it makes each database cheap.

    server = start_postgres()
    url = server.new_database("t1")     # postgresql://imagebot@/t1?host=/tmp/...
    server.stop()

A missing ``initdb`` fails (``./dev`` installs ``postgresql``), never skips.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "imagebot"


class PostgresUnavailable(RuntimeError):
    pass


def bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not found:
        on_path = shutil.which("initdb")
        if on_path:
            return Path(on_path).parent
        raise PostgresUnavailable(
            "PostgreSQL's initdb not found in /usr/lib/postgresql/*/bin or on PATH: "
            "install Debian's postgresql package (./dev setup does)"
        )
    return Path(found[-1]).parent


@dataclass
class PostgresServer:
    directory: Path
    bin: Path
    as_user: list[str] = field(default_factory=list)
    _count: int = 0

    @property
    def socket_dir(self) -> Path:
        return self.directory

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [str(self.bin / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d",
             self.url(database), "-c", sql],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise PostgresUnavailable(f"psql {sql!r}: {result.stderr.strip()}")
        return result.stdout

    def new_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its URL."""
        self._count += 1
        name = f"{prefix}_{os.getpid()}_{self._count}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"),
             "-m", "immediate", "-w", "stop"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """Start a cluster in a new temporary directory (see the module docstring)."""
    bin_ = bindir()
    directory = Path(tempfile.mkdtemp(prefix="imagebot-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        # initdb and postgres refuse root: the cluster is nobody's
        shutil.chown(directory, user="nobody")
        as_user = ["runuser", "-u", "nobody", "--"]
    server = PostgresServer(directory, bin_, as_user)
    data = directory / "data"
    steps = [
        [str(bin_ / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust", "--no-sync",
         "-E", "UTF8", "--locale=C"],
        [str(bin_ / "pg_ctl"), "-D", str(data), "-l", str(directory / "server.log"), "-w",
         "-t", "60", "-o",
         f"-c listen_addresses='' -k {directory} -c fsync=off -c full_page_writes=off "
         "-c synchronous_commit=off -c max_connections=200",
         "start"],
    ]  # fmt: skip
    for step in steps:
        result = subprocess.run(
            [*as_user, *step], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            log = directory / "server.log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            server.stop()
            raise PostgresUnavailable(
                f"{Path(step[0]).name} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()} {detail}"
            )
    return server
