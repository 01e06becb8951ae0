"""Digests, platforms and build times from every manifest flavour, cached by digest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from imagebot.errors import InvalidTag, NotFound
from imagebot.reference import ImageReference
from imagebot.registry import Scanner
from imagebot.registry.metadata import parse_time
from imagebot.registry.models import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from imagebot.store import Store
from tests.harness import LoopbackProxy
from tests.registry.helpers import FAST, make_config, run

BUILT = datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)


def info_of(new_client, host, repo, tag, store=None):
    async def go():
        async with new_client(make_config({host: FAST}), store) as client:
            return await client.image_info(ImageReference.parse(f"{host}/{repo}"), tag)

    return run(go())


def test_digest_of_a_tag_is_the_pushed_manifest_digest(registry, repo_name, new_client):
    pushed = registry.push(repo_name, ["1.0"])

    async def go():
        async with new_client(make_config({registry.host: FAST})) as client:
            return await client.get_digest(
                ImageReference.parse(f"{registry.host}/{repo_name}"), "1.0"
            )

    assert run(go()) == pushed.digest


@pytest.mark.parametrize(
    ("oci", "media_type"), [(False, DOCKER_MANIFEST), (True, OCI_MANIFEST)], ids=["docker", "oci"]
)
def test_image_manifest_gives_build_time_and_platform(
    registry, repo_name, new_client, oci, media_type
):
    pushed = registry.push(repo_name, ["1.0"], created=BUILT, oci=oci)
    info = info_of(new_client, registry.host, repo_name, "1.0")
    assert (info.digest, info.media_type) == (pushed.digest, media_type)
    assert info.platforms == ["linux/amd64"]
    assert info.created == BUILT


@pytest.mark.parametrize(
    ("oci", "media_type"),
    [(False, DOCKER_LIST), (True, OCI_INDEX)],
    ids=["docker-list", "oci-index"],
)
def test_index_lists_its_platforms(registry, repo_name, new_client, oci, media_type):
    platforms = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "windows/amd64"]
    pushed = registry.push(repo_name, ["2.0"], platforms=platforms, created=BUILT, oci=oci)
    info = info_of(new_client, registry.host, repo_name, "2.0")
    assert (info.digest, info.media_type) == (pushed.digest, media_type)
    assert info.platforms == platforms
    assert info.created == BUILT  # from the linux/amd64 child's config


def test_index_created_annotation_saves_fetching_a_child(registry, repo_name, new_client):
    registry.push(
        repo_name,
        ["3.0"],
        platforms=["linux/amd64", "linux/arm64"],
        oci=True,
        annotations={"org.opencontainers.image.created": "2023-09-10T11:12:13Z"},
    )
    with LoopbackProxy(registry.host) as proxy:
        info = info_of(new_client, proxy.host, repo_name, "3.0")
        assert len(proxy.seen) == 2  # HEAD for the digest, GET of the index
    assert info.created == datetime(2023, 9, 10, 11, 12, 13, tzinfo=UTC)


def test_build_time_falls_back_to_the_created_label(registry, repo_name, new_client):
    registry.push(
        repo_name,
        ["1.0"],
        created="1970-01-01T00:00:00Z",  # a reproducible build says nothing
        labels={"org.opencontainers.image.created": "2022-02-03T04:05:06+01:00"},
    )
    info = info_of(new_client, registry.host, repo_name, "1.0")
    assert info.created == datetime(2022, 2, 3, 3, 5, 6, tzinfo=UTC)


def test_an_image_without_a_build_time_has_none(registry, repo_name, new_client):
    registry.push(repo_name, ["1.0"])
    assert info_of(new_client, registry.host, repo_name, "1.0").created is None


def test_a_missing_tag_is_not_found(registry, repo_name, new_client):
    registry.push(repo_name, ["1.0"])
    with pytest.raises(NotFound, match=r"tag '9\.9'"):
        info_of(new_client, registry.host, repo_name, "9.9")


def test_an_invalid_tag_is_refused_before_any_request(registry, new_client):
    with pytest.raises(InvalidTag):
        info_of(new_client, registry.host, "t/x", "-bad")


def test_metadata_is_cached_by_digest_forever(registry, repo_name, new_client, tmp_path):
    registry.push(repo_name, ["1.0"], created=BUILT)
    with Store.open(tmp_path / "state.db") as store, LoopbackProxy(registry.host) as proxy:
        first = info_of(new_client, proxy.host, repo_name, "1.0", store)
        count = len(proxy.seen)
        again = info_of(new_client, proxy.host, repo_name, "1.0", store)
        assert again == first
        assert len(proxy.seen) == count + 1  # only the HEAD for the tag's current digest
        assert proxy.seen[-1].method == "HEAD"


def test_build_times_are_fetched_only_for_the_tags_asked(registry, repo_name, new_client):
    for minor in range(6):
        registry.push(repo_name, [f"1.{minor}"], created=BUILT.replace(month=minor + 1))
    with LoopbackProxy(registry.host) as proxy:

        async def go():
            async with new_client(make_config({proxy.host: FAST})) as client:
                image = ImageReference.parse(f"{proxy.host}/{repo_name}")
                return await Scanner(client).build_times(image, ["1.4", "1.5", "1.5", "gone"])

        times = run(go())
        heads = {s.path.rsplit("/", 1)[1] for s in proxy.seen if s.method == "HEAD"}
    assert times == {
        "1.4": BUILT.replace(month=5),
        "1.5": BUILT.replace(month=6),
        "gone": None,
    }
    assert heads == {"1.4", "1.5", "gone"}


def test_go_timestamps_with_nanoseconds_parse():
    assert parse_time("2024-03-04T05:06:07.123456789Z") == datetime(
        2024, 3, 4, 5, 6, 7, 123456, tzinfo=UTC
    )
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("yesterday") is None
