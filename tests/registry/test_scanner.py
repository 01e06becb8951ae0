"""A scan lists each repository once and keeps going past failures; the tag cache."""

from __future__ import annotations

from imagebot.errors import NotFound
from imagebot.reference import ImageReference
from imagebot.registry import Scanner
from imagebot.store import Store
from tests.harness import LoopbackProxy
from tests.registry.helpers import FAST, make_config, run


def test_each_repository_is_listed_once_per_scan(registry, new_client):
    registry.push("t/shared", ["1.0", "1.1"])
    registry.push("t/other", ["2.0"])
    with LoopbackProxy(registry.host) as proxy:
        images = [
            ImageReference.parse(f"{proxy.host}/t/shared:1.0"),
            ImageReference.parse(f"{proxy.host}/t/shared:1.1"),
            ImageReference.parse(f"{proxy.host}/t/shared"),
            ImageReference.parse(f"{proxy.host}/t/other:2.0"),
        ]

        async def go():
            async with new_client(make_config({proxy.host: FAST})) as client:
                return await Scanner(client).scan(images)

        results = run(go())
        assert len(proxy.requests_to(r"/t/shared/tags/list")) == 1
    assert set(results) == {f"{proxy.host}/t/shared", f"{proxy.host}/t/other"}
    assert results[f"{proxy.host}/t/other"].tags == ["2.0"]


def test_a_missing_repository_is_an_error_for_it_alone(registry, new_client):
    registry.push("t/present", ["1"])
    images = [
        ImageReference.parse(f"{registry.host}/t/absent"),
        ImageReference.parse(f"{registry.host}/t/present"),
    ]

    async def go():
        async with new_client(make_config({registry.host: FAST})) as client:
            return await Scanner(client).scan(images)

    results = run(go())
    assert isinstance(results[f"{registry.host}/t/absent"], NotFound)
    assert results[f"{registry.host}/t/present"].tags == ["1"]


def test_a_cached_tag_list_is_reused_within_its_ttl(registry, new_client, tmp_path):
    registry.push("t/cached", ["1"])
    with Store.open(tmp_path / "s.db") as store, LoopbackProxy(registry.host) as proxy:
        image = ImageReference.parse(f"{proxy.host}/t/cached")

        async def scan(ttl, fresh=False):
            config = make_config({proxy.host: FAST}, tag_cache_ttl=ttl)
            async with new_client(config, store) as client:
                return (await Scanner(client).scan([image], fresh=fresh))[image.repository]

        first = run(scan("1h"))
        second = run(scan("1h"))
        assert not first.from_cache
        assert second.from_cache
        assert second.tags == ["1"]
        assert len(proxy.seen) == 1
        assert not run(scan("1h", fresh=True)).from_cache
        assert not run(scan(0)).from_cache
        assert len(proxy.seen) == 3
