"""A splice is proven from the bytes alone only where the re-read would say the same.

:func:`imagebot.manifests.rewrite` skips the re-read of a rewritten file when the bytes show
that only the spliced values changed (``_proven_without_reading``). These tests hold that
shortcut to the re-read: on every site of the real-world corpus and on hand-made files with
the cases it must leave to the re-read, the outcome (bytes, notes, refusals) is the one the
re-read gives, and the file is re-read whenever the shortcut cannot decide.
"""

from __future__ import annotations

import importlib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagebot.manifests import (
    Edit,
    ImageSite,
    RewriteResult,
    discover,
    rewrite,
    scan_bytes,
    yamlsource,
)
from tests.manifests.helpers import CORPUS

rewriting = importlib.import_module("imagebot.manifests.rewrite")

NEW_TAGS = st.one_of(
    st.sampled_from(
        ["1.10", "1.2.3", "v2", "2024-01-05", "0755", "true", "yes", "On", "1e5", "1_000", "-rc"]
    ),
    st.from_regex(re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,40}"), fullmatch=True),
).filter(lambda t: t.lower() != "null")
DIGEST = "sha256:" + "ab" * 32


def _corpus_sites() -> list[tuple[bytes, ImageSite]]:
    out = []
    for folder in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        for site in discover(folder).sites:
            if site.error or site.tag is None or site.digest is not None:
                continue
            out.append(((folder / site.file).read_bytes(), site))
    return out


CORPUS_SITES = _corpus_sites()


def _outcome(result: RewriteResult) -> tuple[bytes, list[str], list[str], list[int]]:
    return result.content, result.notes, result.errors, [id(e) for e in result.applied]


def _with_and_without_shortcut(content: bytes, edits: list[Edit]) -> tuple[object, object]:
    proven = _outcome(rewrite(content, edits))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rewriting, "_proven_without_reading", lambda *args: False)
        reread = _outcome(rewrite(content, edits))
    return proven, reread


def _reads(content: bytes, edits: list[Edit]) -> int:
    """How many times rewriting *edits* composes YAML."""
    count = 0
    real = yamlsource.compose

    def counting(text: str) -> list:  # type: ignore[type-arg]
        nonlocal count
        count += 1
        return real(text)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yamlsource, "compose", counting)
        rewrite(content, edits)
    return count


def _site(content: bytes, file: str = "manifest.yaml") -> ImageSite:
    sites = [s for s in scan_bytes(content, file).sites if s.error is None]
    assert len(sites) == 1, sites
    return sites[0]


def test_the_corpus_has_sites_to_check():
    assert len(CORPUS_SITES) > 50


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), tag=NEW_TAGS, pin=st.booleans())
def test_every_corpus_site_rewrites_as_the_re_read_decides(data, tag, pin):
    content, site = data.draw(st.sampled_from(CORPUS_SITES))
    edits = [Edit(site, tag, DIGEST if pin else None)]

    proven, reread = _with_and_without_shortcut(content, edits)

    assert proven == reread


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), tag=NEW_TAGS)
def test_every_site_of_a_corpus_file_at_once_rewrites_as_the_re_read_decides(data, tag):
    content, site = data.draw(st.sampled_from(CORPUS_SITES))
    sites = [s for c, s in CORPUS_SITES if s.file == site.file and c == content]
    edits = [Edit(s, tag) for s in sites]

    proven, reread = _with_and_without_shortcut(content, edits)

    assert proven == reread


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
{containers}
"""


def _deployment(container: str, extra: str = "") -> bytes:
    return (extra + DEPLOYMENT.format(containers=container)).encode()


@pytest.mark.parametrize(
    "container",
    [
        "        - name: app\n          image: nginx:1.0",
        "        - name: app\n          image: nginx:1.0   # pinned by hand",
        "        - name: app\n          image: 'nginx:1.0'",
        '        - name: app\n          image: "nginx:1.0"  # quoted',
        "        - {name: app, image: nginx:1.0}",
        "        - {name: app, image: 'nginx:1.0', ports: [80]}",
        "        - name: app\n          image: ghcr.io/org/app:1.0@sha256:" + "cd" * 32,
    ],
)
def test_a_single_value_splice_is_proven_without_a_re_read(container):
    content = _deployment(container)
    edits = [Edit(_site(content), "1.1")]

    proven, reread = _with_and_without_shortcut(content, edits)

    assert proven == reread
    assert _reads(content, edits) == 0


KUSTOMIZATION = "kustomization.yaml"


@pytest.mark.parametrize(
    ("why", "file", "content"),
    [
        (
            "an anchor and an alias",
            "manifest.yaml",
            _deployment(
                "        - name: app\n          image: &img nginx:1.0\n"
                "          env: [{name: IMAGE, value: *img}]"
            ),
        ),
        (
            "a directive",
            "manifest.yaml",
            b"%YAML 1.2\n---\n" + _deployment("        - name: app\n          image: nginx:1.0"),
        ),
        (
            "a plain value quoted to stay a string, with more on the line",
            KUSTOMIZATION,
            b"images: [{name: nginx, newTag: 1.0}]\n",
        ),
    ],
)
def test_the_file_is_re_read_when_the_bytes_cannot_prove_the_splice(why, file, content):
    edits = [Edit(_site(content, file), "true")]

    proven, reread = _with_and_without_shortcut(content, edits)

    assert proven == reread
    assert proven[0] != content, "the edit applies"
    assert _reads(content, edits) == 1, why


def test_a_plain_value_quoted_to_stay_a_string_before_a_comment_is_proven():
    content = b"images:\n  - name: nginx\n    newTag: 1.0  # keep\n"
    edits = [Edit(_site(content, KUSTOMIZATION), "true")]

    proven, reread = _with_and_without_shortcut(content, edits)

    assert proven == reread
    assert b'newTag: "true"  # keep' in rewrite(content, edits).content
    assert _reads(content, edits) == 0


def test_a_site_with_an_error_is_never_proven(monkeypatch):
    content = _deployment("        - name: app\n          image: nginx:1.0")
    site = _site(content)
    site.error = "marked broken by the test"
    seen: list[bool] = []
    real = rewriting._proven_without_reading

    def spy(*args):  # type: ignore[no-untyped-def]
        seen.append(real(*args))
        return seen[-1]

    monkeypatch.setattr(rewriting, "_proven_without_reading", spy)
    rewrite(content, [Edit(site, "1.1")])

    assert seen == [False]
