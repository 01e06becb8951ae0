"""Registry credentials go only to the origin (scheme, host, port) they were issued for."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from imagebot.errors import IncompleteTagList, Unauthorized
from tests.harness import READER_PASSWORD, READER_USER, LoopbackProxy, PaginatingProxy
from tests.reliability.hostile import Conn, HostileServer, Request
from tests.reliability.registry_support import config, get_digest, list_tags

BASIC = "Basic " + base64.b64encode(b"reader:reader-secret").decode()


def reader(host: str, **entry: object) -> dict[str, dict[str, object]]:
    return {host: {"username": READER_USER, "password": READER_PASSWORD, **entry}}


class LinksElsewhere(PaginatingProxy):
    """Paginates a real registry, but its absolute ``next`` links point at *elsewhere*."""

    def __init__(self, upstream: str, elsewhere: str) -> None:
        super().__init__(upstream, max_page=5, absolute=True)
        self.elsewhere = elsewhere

    @property
    def url(self) -> str:
        return self.elsewhere


def test_a_pagination_link_to_another_origin_fails_the_repository_naming_both_origins(
    basic_registry, repo_name
):
    basic_registry.push(repo_name, [f"1.0.{i}" for i in range(12)])
    with (
        LoopbackProxy(basic_registry.host) as other,
        LinksElsewhere(basic_registry.host, other.url) as front,
    ):
        with pytest.raises(IncompleteTagList) as caught:
            list_tags(config(reader(front.host)), f"{front.host}/{repo_name}")
        assert other.seen == []  # never followed, with or without credentials
        assert any(s.authorization for s in front.seen)  # the registry itself got them
    message = str(caught.value)
    assert f"http://{front.host}" in message
    assert f"http://{other.host}" in message
    assert "another origin" in message


def test_a_pagination_link_from_https_to_http_on_the_same_host_and_port_is_not_followed():
    def registry(conn: Conn) -> None:
        if conn.request.authorization != BASIC:
            conn.reply(401, b"{}", {"WWW-Authenticate": 'Basic realm="r"'})
            return
        port = conn.request.headers["host"].rsplit(":", 1)[1]
        link = f'<http://127.0.0.1:{port}/v2/team/app/tags/list?last=b>; rel="next"'
        conn.reply(200, b'{"tags": ["a", "b"]}', {"Link": link})

    with HostileServer(registry, tls=True) as server:
        cfg = config(reader("secure.example", mirror=server.url, insecure=True))
        with pytest.raises(IncompleteTagList) as caught:
            list_tags(cfg, "secure.example/team/app")
        assert len(server.requests()) == 2  # the challenge and the first page, nothing else
    message = str(caught.value)
    assert f"http://{server.host}" in message
    assert f"https://{server.host}" in message


def _redirecting_registry(location: str):
    """Answers with credentials only; then redirects the manifest HEAD to *location*."""

    def script(conn: Conn) -> None:
        if conn.request.authorization != BASIC:
            conn.reply(401, b"{}", {"WWW-Authenticate": 'Basic realm="r"'})
        elif conn.request.path.startswith("/storage/"):
            conn.reply(200, b"", {"Docker-Content-Digest": "sha256:" + "a" * 64})
        else:
            conn.reply(307, b"", {"Location": location + conn.request.path})

    return script


def _storage(conn: Conn) -> None:
    conn.reply(200, b"", {"Docker-Content-Digest": "sha256:" + "b" * 64})


def test_a_redirect_to_another_port_carries_no_credentials():
    with HostileServer(_storage) as storage:
        with HostileServer(_redirecting_registry(storage.url), tls=True) as server:
            cfg = config(reader("secure.example", mirror=server.url, insecure=True))
            digest = get_digest(cfg, "secure.example/team/app", "1.0")
        assert digest == "sha256:" + "b" * 64
        assert storage.requests()
        assert all(r.authorization is None for r in storage.requests())


@contextmanager
def redirecting_to_itself(scheme: str) -> Iterator[tuple[HostileServer, list[Request]]]:
    """A TLS registry redirecting to ``/storage/`` on its own host and port, over *scheme*;
    yields it and the storage requests it then saw."""
    base: list[str] = []

    def script(conn: Conn) -> None:
        _redirecting_registry(base[0] + "/storage")(conn)

    with HostileServer(script, tls=True) as server:
        base.append(server.url if scheme == "https" else server.http_url)
        storage: list[Request] = []
        yield server, storage
        storage += [r for r in server.requests() if r.path.startswith("/storage/")]


def test_a_redirect_from_https_to_http_on_the_same_host_and_port_carries_no_credentials():
    with redirecting_to_itself("http") as (server, storage):
        cfg = config(reader("secure.example", mirror=server.url, insecure=True))
        with pytest.raises(Unauthorized, match="credentials; they stay with https://"):
            get_digest(cfg, "secure.example/team/app", "1.0")  # storage got none: it says 401
    assert storage
    assert all(r.authorization is None for r in storage)


def test_a_redirect_to_the_same_origin_keeps_the_credentials():
    with redirecting_to_itself("https") as (server, storage):
        cfg = config(reader("secure.example", mirror=server.url, insecure=True))
        assert get_digest(cfg, "secure.example/team/app", "1.0") == "sha256:" + "a" * 64
    assert storage
    assert all(r.authorization == BASIC for r in storage)


def test_a_challenge_from_a_redirect_target_never_gets_the_registrys_credentials():
    with HostileServer(lambda conn: conn.reply(200, b'{"token": "t"}')) as realm:

        def elsewhere(conn: Conn) -> None:
            challenge = f'Bearer realm="{realm.url}/token",service="evil"'
            conn.reply(401, b"{}", {"WWW-Authenticate": challenge})

        with HostileServer(elsewhere) as target:

            def registry(conn: Conn) -> None:
                conn.reply(307, b"", {"Location": target.url + conn.request.path})

            with HostileServer(registry) as server:
                cfg = config(reader(server.host))
                with pytest.raises(Unauthorized):
                    get_digest(cfg, f"{server.host}/team/app", "1.0")
        assert realm.requests() == []
        assert all(r.authorization is None for r in target.requests())
