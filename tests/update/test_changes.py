"""The commit subject and change lines the writer uses, from resolutions (pure)."""

from __future__ import annotations

from imagebot.manifests import scan_bytes
from imagebot.update.changes import commit_message, template_fields
from imagebot.update.resolve import Resolution

TWO_REDIS = b"""\
apiVersion: apps/v1
kind: Deployment
metadata: {name: cache, namespace: shop}
spec:
  template:
    spec:
      containers:
      - name: main
        image: redis:7.2.4
      - name: replica
        image: redis:7.2.4-alpine
"""


def updates(content: bytes, *new_tags: str) -> list[Resolution]:
    sites = scan_bytes(content, "cache.yaml").sites
    assert len(sites) == len(new_tags)
    return [
        Resolution(site, "update", "newer", new_tag=tag)
        for site, tag in zip(sites, new_tags, strict=True)
    ]


def subject(applied: list[Resolution]) -> str:
    return template_fields(applied, repository="fleet", branch="main")["subject"]


def test_one_image_moved_in_two_places_to_two_tags_names_both_tags():
    applied = updates(TWO_REDIS, "7.2.5", "7.2.5-alpine")

    assert subject(applied) == "Update redis to 7.2.5 and 7.2.5-alpine in 2 places"


def test_one_image_moved_in_two_places_to_one_tag_names_it_once():
    applied = updates(TWO_REDIS.replace(b"7.2.4-alpine", b"7.2.4"), "7.2.5", "7.2.5")

    assert subject(applied) == "Update redis to 7.2.5 in 2 places"


def test_the_commit_message_lists_each_place_under_the_subject():
    applied = updates(TWO_REDIS, "7.2.5", "7.2.5-alpine")

    message = commit_message(applied, template=None, repository="fleet", branch="main")

    assert message == (
        "Update redis to 7.2.5 and 7.2.5-alpine in 2 places\n\n"
        "cache.yaml: Deployment/shop/cache main 7.2.4 -> 7.2.5\n"
        "cache.yaml: Deployment/shop/cache replica 7.2.4-alpine -> 7.2.5-alpine\n"
    )
