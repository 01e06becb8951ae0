"""A forge API answer is bounded like a registry's: one deadline for the whole exchange, a size
cap, and JSON or a named error. Served by a real (hostile) HTTP server on loopback; the forge
clients are otherwise tested against respx fakes of GitHub and GitLab."""

from __future__ import annotations

import contextlib
import gzip
import time

import pytest

from imagebot.errors import ForgeError
from imagebot.gitops.forge import GitHub
from imagebot.gitops.forge.base import MAX_ANSWER_BYTES
from tests.gitops.forge_fixtures import TOKEN, no_sleep
from tests.gitops.forge_fixtures import run as run_async
from tests.reliability.hostile import Conn, HostileServer, endless, trickle


def find_open(server: HostileServer, *, timeout: float = 30.0) -> object:
    forge = GitHub(
        api_url=server.url, project="octo/app", token=TOKEN, sleep=no_sleep, timeout=timeout,
        retries=0,
    )  # fmt: skip

    async def call() -> object:
        async with forge:
            return await forge.find_open("imagebot/main", "main")

    return run_async(call())


def test_an_answer_that_never_ends_is_cut_at_the_cap() -> None:
    def script(conn: Conn) -> None:
        conn.head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        try:
            for chunk in endless():
                conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except OSError:
            pass  # the client went away, as it should

    with HostileServer(script) as server, pytest.raises(ForgeError) as caught:
        find_open(server)
    assert f"over the {MAX_ANSWER_BYTES}-byte limit" in str(caught.value)


def test_a_declared_length_over_the_cap_is_refused_before_the_body() -> None:
    def script(conn: Conn) -> None:
        conn.head(200, {"Content-Type": "application/json", "Content-Length": "200000000"})
        conn.hang(5)

    with HostileServer(script) as server, pytest.raises(ForgeError) as caught:
        find_open(server)
    assert "an answer of 200000000 bytes" in str(caught.value)


def test_a_gzip_bomb_is_cut_at_the_cap_after_decompression() -> None:
    bomb = gzip.compress(b" " * (MAX_ANSWER_BYTES * 4))

    def script(conn: Conn) -> None:
        conn.reply(200, bomb, {"Content-Encoding": "gzip"})

    with HostileServer(script) as server, pytest.raises(ForgeError) as caught:
        find_open(server)
    assert "over the" in str(caught.value)


def test_a_trickled_answer_fails_at_the_deadline_not_per_read() -> None:
    def script(conn: Conn) -> None:
        conn.head(200, {"Content-Type": "application/json", "Content-Length": "1000"})
        with contextlib.suppress(OSError):  # the client went away, as it should
            trickle(conn, b"[" + b" " * 998 + b"]", 0.05)  # 50 s in all

    started = time.monotonic()
    with HostileServer(script) as server, pytest.raises(ForgeError) as caught:
        find_open(server, timeout=1.0)
    assert "no complete answer within 1s" in str(caught.value)
    assert time.monotonic() - started < 30  # far below the 50 s the trickle would take


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"[" * 200_000 + b"]" * 200_000])
def test_a_success_that_is_not_json_is_an_error_naming_the_call(body: bytes) -> None:
    def script(conn: Conn) -> None:
        conn.reply(200, body)

    with HostileServer(script) as server, pytest.raises(ForgeError) as caught:
        find_open(server)
    assert "GET /repos/octo/app/pulls: the answer is not JSON" in str(caught.value)
