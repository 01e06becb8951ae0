"""Tag lists: complete or an error, through pagination, against a real registry."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagebot.errors import IncompleteTagList, NotFound
from imagebot.reference import ImageReference, is_valid_tag
from imagebot.registry.client import _clean_tags, next_link
from tests.harness import Fault, FaultProxy, LoopbackProxy, PaginatingProxy, Reply
from tests.registry.helpers import FAST, make_config, run


def ref(host: str, repo: str) -> ImageReference:
    return ImageReference.parse(f"{host}/{repo}")


async def list_tags(new_client, host: str, repo: str, **entry):
    async with new_client(make_config({host: {**FAST, **entry}})) as client:
        return await client.list_tags(ref(host, repo)), client


def test_lists_every_tag_of_a_repository(registry, repo_name, new_client):
    registry.push(repo_name, ["1.0.0", "1.1.0", "latest"])
    tags, _ = run(list_tags(new_client, registry.host, repo_name))
    assert sorted(tags.tags) == ["1.0.0", "1.1.0", "latest"]
    assert tags.repository == f"{registry.host}/{repo_name}"
    assert tags.dropped == []
    assert not tags.from_cache
    assert tags.fetched_at is not None


@pytest.mark.slow
def test_follows_pagination_through_2500_tags(registry, repo_name, new_client):
    wanted = {f"1.{i // 100}.{i % 100}" for i in range(2600)}
    registry.push(repo_name, sorted(wanted))
    with PaginatingProxy(registry.host, max_page=100) as proxy:
        tags, _ = run(list_tags(new_client, proxy.host, repo_name))
        pages = proxy.requests_to(r"/tags/list")
    assert set(tags.tags) == wanted
    assert len(tags.tags) == 2600
    assert len(pages) == 26  # the server capped our large n at 100


@pytest.mark.parametrize("absolute", [False, True], ids=["relative-link", "absolute-link"])
def test_follows_relative_and_absolute_next_links(registry, repo_name, new_client, absolute):
    wanted = [f"v{i:03d}" for i in range(25)]
    registry.push(repo_name, wanted)
    with PaginatingProxy(registry.host, max_page=10, absolute=absolute) as proxy:
        tags, _ = run(list_tags(new_client, proxy.host, repo_name))
        assert len(proxy.requests_to(r"/tags/list")) == 3
    assert tags.tags == wanted


def test_a_short_page_is_not_the_end_of_the_list(registry, repo_name, new_client):
    wanted = [f"v{i:03d}" for i in range(40)]
    registry.push(repo_name, wanted)
    with PaginatingProxy(registry.host, max_page=10, ragged=True) as proxy:
        tags, _ = run(list_tags(new_client, proxy.host, repo_name))
    assert tags.tags == wanted


def test_asks_for_large_pages(registry, repo_name, new_client):
    registry.push(repo_name, ["1"])
    with PaginatingProxy(registry.host) as proxy:
        run(list_tags(new_client, proxy.host, repo_name))
        (first,) = proxy.requests_to(r"/tags/list")
    assert "n=1000" in first.path


def test_a_page_that_fails_makes_the_whole_list_an_error(registry, repo_name, new_client):
    registry.push(repo_name, [f"v{i:02d}" for i in range(30)])
    with PaginatingProxy(registry.host, max_page=10) as pages, FaultProxy(pages.host) as faults:
        faults.always(r"/tags/list\?last=", Fault(500))
        with pytest.raises(IncompleteTagList) as caught:
            run(list_tags(new_client, faults.host, repo_name))
    assert "after 10 tags" in str(caught.value)
    assert caught.value.registry == faults.host
    assert caught.value.repository == repo_name


def test_a_page_that_keeps_timing_out_makes_the_list_incomplete(registry, repo_name, new_client):
    registry.push(repo_name, [f"v{i:02d}" for i in range(30)])
    with PaginatingProxy(registry.host, max_page=10) as pages, FaultProxy(pages.host) as faults:
        faults.always(r"/tags/list\?last=", Fault(503))
        with pytest.raises(IncompleteTagList, match="HTTP 503"):
            run(list_tags(new_client, faults.host, repo_name))


class LoopingLinks(LoopbackProxy):
    def handle(self, handler, body):
        if "/tags/list" not in handler.path:
            return None
        link = '</v2/x/tags/list?last=a&n=10>; rel="next"'
        return Reply(200, {"Link": link}, json.dumps({"tags": ["a"]}).encode())


def test_a_pagination_loop_is_an_incomplete_list(registry, new_client):
    with LoopingLinks(registry.host) as proxy, pytest.raises(IncompleteTagList, match="loops"):
        run(list_tags(new_client, proxy.host, "x"))


class ExtraTags(LoopbackProxy):
    """Adds tags Distribution would never accept, as a broken or foreign registry might."""

    def __init__(self, upstream: str, extra: list[str]) -> None:
        super().__init__(upstream)
        self.extra = extra

    def handle(self, handler, body):
        if "/tags/list" not in handler.path:
            return None
        reply = self.forward("GET", handler.path, {"Host": self.upstream})
        data = json.loads(reply.body)
        data["tags"] = data["tags"] + self.extra
        return Reply(200, {"Content-Type": "application/json"}, json.dumps(data).encode())


def test_tags_breaking_the_oci_grammar_are_dropped_with_a_warning(
    registry, repo_name, new_client, caplog
):
    registry.push(repo_name, ["1.0", "1.1"])
    bad = ["-rc1", ".hidden", "x" * 129, "a b", "1.0"]
    with ExtraTags(registry.host, bad) as proxy:
        tags, _ = run(list_tags(new_client, proxy.host, repo_name))
    assert tags.tags == ["1.0", "1.1"]
    assert tags.dropped == bad[:4]
    assert "ignoring 4 tag(s) that break the OCI tag grammar" in caplog.text


def test_an_emptied_repository_has_no_tags(registry, repo_name, new_client):
    pushed = registry.push(repo_name, ["only"])
    registry.pusher.delete_tag_manifest(repo_name, pushed.digest)
    tags, _ = run(list_tags(new_client, registry.host, repo_name))
    assert tags.tags == []


def test_a_missing_repository_is_not_found_naming_registry_and_repository(registry, new_client):
    with pytest.raises(NotFound) as caught:
        run(list_tags(new_client, registry.host, "no/such/repo"))
    assert str(caught.value).startswith(f"{registry.host}/no/such/repo: tag list: not found")


@given(st.lists(st.text(alphabet="ab1._- ", min_size=0, max_size=6), max_size=30))
def test_cleaning_keeps_valid_tags_in_order_and_drops_the_rest(raw):
    tags, dropped = _clean_tags(raw)
    assert all(is_valid_tag(t) for t in tags)
    assert not any(is_valid_tag(t) for t in dropped)
    assert tags == [t for t in dict.fromkeys(raw) if is_valid_tag(t)]
    assert set(tags) | set(dropped) == set(raw)


@given(st.sampled_from(["relative", "absolute"]), st.integers(1, 5000))
def test_next_link_resolves_against_the_current_page(kind, last):
    current = "https://reg.example/v2/team/app/tags/list?n=1000"
    target = f"/v2/team/app/tags/list?last={last}&n=1000"
    link = target if kind == "relative" else f"https://reg.example{target}"
    header = f'<{link}>; rel="next", <https://reg.example/other>; rel="prev"'
    assert next_link([header], current) == f"https://reg.example{target}"
    assert next_link(['<https://reg.example/other>; rel="prev"'], current) is None
