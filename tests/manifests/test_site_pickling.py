"""Sites and image references pickle compactly and come back equal.

The cycle caches keep discovery's last answer between processes as a pickle
(:mod:`imagebot.update.cyclecache`); a site leaves out the fields still at their default
(the class answers for them) and a reference is rebuilt from its five values.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle

from imagebot.manifests import ImageSite, discover
from imagebot.reference import ImageReference
from tests.manifests.helpers import CORPUS


def _sites() -> list[ImageSite]:
    return [
        s for folder in sorted(CORPUS.iterdir()) if folder.is_dir() for s in discover(folder).sites
    ]


def test_every_corpus_site_comes_back_equal_field_for_field() -> None:
    sites = _sites()
    assert len(sites) > 200
    back = pickle.loads(pickle.dumps(sites, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == sites
    for before, after in zip(sites, back, strict=True):
        assert dataclasses.astuple(after) == dataclasses.astuple(before)
        assert repr(after) == repr(before)


def test_a_site_pickles_without_the_fields_at_their_default() -> None:
    site = next(s for s in _sites() if s.warning is None and s.namespace)
    state = site.__reduce__()[2]
    assert "warning" not in state
    assert "lock_message" not in state
    assert state["file"] == site.file
    assert state["image"] == site.image
    plain = len(pickle.dumps(site.__dict__, protocol=pickle.HIGHEST_PROTOCOL))
    assert len(pickle.dumps(site, protocol=pickle.HIGHEST_PROTOCOL)) < plain


def test_a_field_left_out_reads_its_default_and_can_be_set_on_one_site_alone() -> None:
    first, second = pickle.loads(pickle.dumps(_sites()[:2]))
    assert first.warning is None
    assert first.exclude == ()
    first.warning = "looked at twice"
    assert first.warning == "looked at twice"
    assert second.warning is None
    assert ImageSite.warning is None  # the class default is untouched
    assert dataclasses.replace(second, line=99).warning is None


def test_a_non_default_value_equal_in_type_only_is_kept() -> None:
    site = dataclasses.replace(_sites()[0], automated=True, approve=True, api_version="v1")
    back = pickle.loads(pickle.dumps(site))
    assert (back.automated, back.approve, back.api_version) == (True, True, "v1")


def test_an_image_reference_pickles_and_copies_to_an_equal_one() -> None:
    refs = [
        ImageReference.parse("nginx"),
        ImageReference.parse("ghcr.io/org/app:1.2.3"),
        ImageReference.parse("localhost:5000/app@sha256:" + "ab" * 32),
        ImageReference.parse("docker.io/library/alpine:3.20@sha256:" + "cd" * 32),
    ]
    for ref in refs:
        for back in (pickle.loads(pickle.dumps(ref)), copy.copy(ref), copy.deepcopy(ref)):
            assert back == ref
            assert str(back) == str(ref)
            assert back.written_name == ref.written_name
