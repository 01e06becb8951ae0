"""The commit subject and change lines the writer uses, from resolutions (pure)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from imagebot.manifests import scan_bytes
from imagebot.manifests.yamlsource import blob_id
from imagebot.update import changes
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


# --- reusing the last cycle's rewrites (``reusing_rewrites``) ----------------------------------


def _planned(root: Path) -> list[Resolution]:
    from imagebot.manifests import discover

    return [Resolution(site, "update", "newer", new_tag="7.2.5") for site in discover(root).sites]


def _counting(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[bytes]]:
    """(files build_changes reads, contents it rewrites), filled as it runs."""
    read: list[str] = []
    rewritten: list[bytes] = []
    real_read, real_rewrite = changes.Path.read_bytes, changes.rewrite

    def reading(self):  # type: ignore[no-untyped-def]
        read.append(self.name)
        return real_read(self)

    def rewriting(content, edits):  # type: ignore[no-untyped-def]
        rewritten.append(content)
        return real_rewrite(content, edits)

    monkeypatch.setattr(changes.Path, "read_bytes", reading)
    monkeypatch.setattr(changes, "rewrite", rewriting)
    return read, rewritten


def test_a_rewrite_git_says_is_unchanged_is_reused_without_reading_the_file(tmp_path, monkeypatch):
    (tmp_path / "cache.yaml").write_bytes(TWO_REDIS)
    blobs = {"cache.yaml": blob_id(TWO_REDIS)}
    cache: changes.RewriteCache = {}
    with changes.reusing_rewrites(cache, blobs):
        first = changes.build_changes(tmp_path, _planned(tmp_path))
    first_diff = first.diff()
    planned = _planned(tmp_path)
    read, rewritten = _counting(monkeypatch)

    with changes.reusing_rewrites(cache, blobs):
        again = changes.build_changes(tmp_path, planned)

    assert read == []
    assert rewritten == []
    assert again.files == first.files
    assert again.old == first.old
    assert (
        again.diff()
        == first_diff
        == changes.file_diff("cache.yaml", TWO_REDIS, first.files["cache.yaml"])
    )
    assert len(again.applied) == 2


def test_a_reused_rewrite_is_made_again_when_the_file_changed(tmp_path, monkeypatch):
    path = tmp_path / "cache.yaml"
    path.write_bytes(TWO_REDIS)
    cache: changes.RewriteCache = {}
    with changes.reusing_rewrites(cache, {"cache.yaml": blob_id(TWO_REDIS)}):
        changes.build_changes(tmp_path, _planned(tmp_path))
    edited = TWO_REDIS.replace(b"replica", b"follower")
    path.write_bytes(edited)
    planned = _planned(tmp_path)
    read, rewritten = _counting(monkeypatch)

    with changes.reusing_rewrites(cache, {"cache.yaml": blob_id(edited)}):
        again = changes.build_changes(tmp_path, planned)

    assert read == ["cache.yaml"]
    assert rewritten == [edited]
    assert b"follower" in again.files["cache.yaml"]
    assert "+        image: redis:7.2.5\n" in again.diff()


def test_without_blob_ids_a_reused_rewrite_reads_and_checks_the_file_but_parses_nothing(
    tmp_path, monkeypatch
):
    (tmp_path / "cache.yaml").write_bytes(TWO_REDIS)
    cache: changes.RewriteCache = {}
    with changes.reusing_rewrites(cache):
        first = changes.build_changes(tmp_path, _planned(tmp_path))
    planned = _planned(tmp_path)
    read, rewritten = _counting(monkeypatch)

    with changes.reusing_rewrites(cache):
        again = changes.build_changes(tmp_path, planned)

    assert read == ["cache.yaml"]
    assert rewritten == []
    assert again.files == first.files


def test_other_edits_of_the_same_bytes_are_rewritten_again(tmp_path, monkeypatch):
    (tmp_path / "cache.yaml").write_bytes(TWO_REDIS)
    blobs = {"cache.yaml": blob_id(TWO_REDIS)}
    cache: changes.RewriteCache = {}
    with changes.reusing_rewrites(cache, blobs):
        changes.build_changes(tmp_path, _planned(tmp_path))
    other = [replace(r, new_tag="7.2.6") for r in _planned(tmp_path)]
    _, rewritten = _counting(monkeypatch)

    with changes.reusing_rewrites(cache, blobs):
        again = changes.build_changes(tmp_path, other)

    assert rewritten == [TWO_REDIS]
    assert b"redis:7.2.6" in again.files["cache.yaml"]
