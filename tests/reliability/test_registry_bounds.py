"""Every registry request has one deadline and every answer a size cap; lists have caps too.

A registry that trickles, never ends its body or answers 200 MB fails that repository, at
its deadline or its cap, holding no more than the cap in memory.
"""

from __future__ import annotations

import asyncio
import gzip
import time
import tracemalloc

import pytest

from imagebot.config import DEFAULT_MAX_RESPONSE_SIZE
from imagebot.errors import IncompleteTagList, MalformedAnswer, Unreachable
from imagebot.reference import ImageReference
from imagebot.registry import RegistryClient, TagList
from tests.harness import PaginatingProxy
from tests.reliability.hostile import Conn, HostileServer, trickle
from tests.reliability.registry_support import NO_WAIT, config, list_tags, scan

MB = 1024 * 1024


def trickling(conn: Conn) -> None:
    body = b'{"tags": [' + b'"1.0", ' * 20000 + b'"2.0"]}'
    conn.head(200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
    trickle(conn, body, every=0.02)  # headers at once, then a byte at a time: ~45 minutes


def chunked_forever(chunk: bytes):
    def script(conn: Conn) -> None:
        conn.head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        while True:
            conn.send(frame)

    return script


def test_a_trickling_registry_fails_at_the_deadline_not_per_byte():
    with HostileServer(trickling) as server:
        cfg = config({server.host: {"timeout": "1s", "retries": 0}})
        started = time.monotonic()
        with pytest.raises(Unreachable, match=r"no complete answer within the 1s deadline"):
            list_tags(cfg, f"{server.host}/team/app")
        took = time.monotonic() - started
    assert took < 3  # one deadline; a per-read timeout would wait for all 140,000 bytes


def test_the_deadline_applies_to_each_retry_and_then_the_repository_fails():
    with HostileServer(trickling) as server:
        cfg = config({server.host: {"timeout": "0.5s", "retries": 2}})
        with pytest.raises(Unreachable, match=r"deadline \(after 3 attempts\)"):
            list_tags(cfg, f"{server.host}/team/app")
        assert len(server.requests()) == 3


def test_a_body_that_never_ends_fails_at_the_size_cap():
    with HostileServer(chunked_forever(b'"1.0", ' * 9000)) as server:
        cfg = config({server.host: {"max_response_size": MB}})
        with pytest.raises(MalformedAnswer, match=r"sent more than 1,0\d\d,\d\d\d bytes") as caught:
            list_tags(cfg, f"{server.host}/team/app")
    assert f"http://{server.host}/v2/team/app/tags/list" in str(caught.value)
    assert "1,048,576-byte cap" in str(caught.value)


def test_an_answer_declaring_200_mb_is_refused_before_its_body_is_read():
    def script(conn: Conn) -> None:
        conn.head(200, {"Content-Type": "application/json", "Content-Length": str(200 * MB)})
        conn.send(b"[" * 65536)
        conn.hang()

    with (
        HostileServer(script) as server,
        pytest.raises(MalformedAnswer, match=r"declares 209,715,200 bytes, over the"),
    ):
        list_tags(config({server.host: {}}), f"{server.host}/team/app")


def _peak_while(call) -> tuple[int, BaseException | None]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        caught = None
        try:
            call()
        except Exception as exc:
            caught = exc
        return tracemalloc.get_traced_memory()[1], caught
    finally:
        tracemalloc.stop()


def test_a_200_mb_answer_without_a_length_costs_no_more_memory_than_the_cap():
    sent = [0]

    def script(conn: Conn) -> None:
        conn.head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        chunk = b" " * 65536
        frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        while sent[0] < 200 * MB:
            conn.send(frame)
            sent[0] += len(chunk)
        conn.send(b"0\r\n\r\n")

    with HostileServer(script) as server:
        cfg = config({server.host: {}})  # the default cap
        peak, caught = _peak_while(lambda: list_tags(cfg, f"{server.host}/team/app"))
    assert isinstance(caught, MalformedAnswer), caught
    assert "over the 16,777,216-byte cap" in str(caught)
    assert peak < 2 * DEFAULT_MAX_RESPONSE_SIZE + 8 * MB
    assert sent[0] < 200 * MB  # the client hung up; it did not read it all


def test_a_gzip_bomb_is_capped_after_decompression_in_bounded_memory():
    bomb = gzip.compress(b" " * (64 * MB), compresslevel=9)  # ~64 KB on the wire
    assert len(bomb) < MB

    def script(conn: Conn) -> None:
        conn.reply(200, bomb, {"Content-Encoding": "gzip"})

    with HostileServer(script) as server:
        cfg = config({server.host: {"max_response_size": 4 * MB}})
        peak, caught = _peak_while(lambda: list_tags(cfg, f"{server.host}/team/app"))
    assert isinstance(caught, MalformedAnswer), caught
    assert "over the 4,194,304-byte cap" in str(caught)
    assert peak < 3 * 4 * MB + 8 * MB


def test_a_gzip_answer_within_the_cap_is_read():
    body = gzip.compress(b'{"tags": ["1.0", "2.0"]}')

    with HostileServer(lambda conn: conn.reply(200, body, {"Content-Encoding": "gzip"})) as server:
        assert list_tags(config({server.host: {}}), f"{server.host}/team/app").tags == [
            "1.0",
            "2.0",
        ]


def test_pagination_stops_at_the_page_cap_with_an_error_not_a_partial_list(registry, repo_name):
    registry.push(repo_name, [f"1.0.{i:02d}" for i in range(30)])
    with PaginatingProxy(registry.host, max_page=5) as pages:
        with pytest.raises(IncompleteTagList, match=r"more than max_pages=3 pages \(15 tags"):
            list_tags(config({pages.host: {"max_pages": 3}}), f"{pages.host}/{repo_name}")
        assert len(pages.requests_to(r"/tags/list")) == 3


def test_pagination_stops_at_the_tag_cap_with_an_error_not_a_partial_list(registry, repo_name):
    registry.push(repo_name, [f"1.0.{i:02d}" for i in range(30)])
    with (
        PaginatingProxy(registry.host, max_page=5) as pages,
        pytest.raises(IncompleteTagList, match=r"more than max_tags=12 tags \(page 3\)"),
    ):
        list_tags(config({pages.host: {"max_tags": 12}}), f"{pages.host}/{repo_name}")


def test_a_list_within_the_caps_is_read_whole(registry, repo_name):
    registry.push(repo_name, [f"1.0.{i:02d}" for i in range(30)])
    with PaginatingProxy(registry.host, max_page=5) as pages:
        cfg = config({pages.host: {"max_pages": 6, "max_tags": 30}})
        assert len(list_tags(cfg, f"{pages.host}/{repo_name}").tags) == 30


def test_a_hostile_registry_fails_only_its_own_repository(registry, repo_name):
    registry.push(repo_name, ["1.0"])
    with HostileServer(chunked_forever(b"[" * 65536)) as server:
        cfg = config({server.host: {"max_response_size": MB}, registry.host: {}})
        results = scan(cfg, f"{server.host}/team/app", f"{registry.host}/{repo_name}")
    assert isinstance(results[f"{server.host}/team/app"], MalformedAnswer)
    good = results[f"{registry.host}/{repo_name}"]
    assert isinstance(good, TagList)
    assert good.tags == ["1.0"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_response_size", 0), ("max_pages", 0), ("max_tags", -1), ("timeout", 0)],
)
def test_the_limits_must_be_positive(key, value):
    from imagebot.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"registries\.r\.example\.{key}: expected"):
        config({"r.example": {key: value}})


def test_a_host_that_keeps_failing_is_left_alone_for_a_minute_then_tried_again():
    now = [1000.0]

    async def three_scans(host: str) -> list[str]:
        cfg = config({host: {"timeout": "0.3s", "retries": 1}})
        image = ImageReference.parse(f"{host}/team/app")
        outcomes = []
        async with RegistryClient(cfg, retry=NO_WAIT, clock=lambda: now[0]) as client:
            for advance in (0, 30, 31):
                now[0] += advance
                with pytest.raises(Unreachable) as caught:
                    await client.list_tags(image)
                outcomes.append(caught.value.reason.split(":")[0])
        return outcomes

    with HostileServer(trickling) as server:
        outcomes = asyncio.run(three_scans(server.host))
        asked = len(server.requests())
    # two attempts at their deadline; 30 s later not asked at all; after the minute, asked
    # once more, and left alone again at once
    assert outcomes == ["timed out", "not tried", "timed out"]
    assert asked == 3
