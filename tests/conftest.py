"""Shared fixtures: real registries started once per test session (per xdist worker).

``registry`` (no auth), ``basic_registry`` (htpasswd Basic) and ``token_registry`` (Bearer
tokens from a test token server) are :class:`tests.harness.RegistryServer` objects with
``.host`` ("127.0.0.1:PORT"), ``.url`` and ``.push(repo, tags, created=..., platforms=...)``.
They are shared by the whole session: push under a repository name of your own (the
``repo_name`` fixture gives one per test). A missing ``docker-registry`` fails, never skips.

``postgres`` is a real PostgreSQL server (tests/harness/postgres.py), also one per session;
``store_location`` is a new store's location, once an SQLite file and once a new PostgreSQL
database: a test asking for it runs on both backends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitops.helpers import use_isolated_git
from tests.harness import RegistryServer, start_registry
from tests.harness.postgres import PostgresServer, start_postgres
from tests.update.helpers import Bot


def _start(tmp_path_factory: pytest.TempPathFactory, auth: str) -> Iterator[RegistryServer]:
    server = start_registry(tmp_path_factory.mktemp(f"registry-{auth}"), auth=auth)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _no_state_in_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the machine's own state store (``~/.local/state/imagebot``):
    one left by another imagebot version would decide the outcome."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry without authentication."""
    yield from _start(tmp_path_factory, "none")


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry behind HTTP Basic auth (users in ``.users``: admin and reader)."""
    yield from _start(tmp_path_factory, "basic")


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry behind the Bearer token flow; ``.token_server`` records token requests.
    Anonymous users may pull, except repositories under ``private/``."""
    yield from _start(tmp_path_factory, "token")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server; ``postgres.new_database()`` gives a test a database (URL)."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a new store goes: an SQLite file, or (second run) a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "imagebot.sqlite3")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def bot(
    tmp_path: Path, registry: RegistryServer, isolated_git: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Bot]:
    """A bot running update cycles against ``registry``, with a state directory and Git of
    its own (tests/update/helpers.py)."""
    monkeypatch.setenv("IMAGEBOT_STATE_DIR", str(tmp_path / "state"))
    with Bot(tmp_path, registry) as b:
        yield b


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A repository name unique to the running test (valid under the OCI name grammar)."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return f"t/{name[:120]}"


@pytest.fixture
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Git with the tests' own identity under ``tmp_path/home`` (returned) and none of the
    machine's config or ``IMAGEBOT_CONFIG``. Ask for it by name, or make it autouse for a
    folder with a conftest fixture that asks for it (tests/gitops/conftest.py)."""
    home = tmp_path / "home"
    use_isolated_git(monkeypatch, home)
    return home
