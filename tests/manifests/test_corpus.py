"""The real-world corpus (tests/corpus, see its SOURCES.md): found, rewritten, restored."""

from __future__ import annotations

import shutil

import pytest

from imagebot.manifests import Discovery, Edit, ImageSite, apply, discover, rewrite
from imagebot.manifests.yamlsource import plain_reads_as_string
from tests.manifests.corpus_expected import EXPECTED
from tests.manifests.helpers import CORPUS

FOLDERS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
NEW_TAG = "9.9.9-imagebot"
NEW_DIGEST = "sha256:" + "9" * 64
_SCANS: dict[str, Discovery] = {}


def scan(folder: str) -> Discovery:
    if folder not in _SCANS:
        _SCANS[folder] = discover(CORPUS / folder)
    return _SCANS[folder]


def test_corpus_folders_are_the_ones_sources_md_lists():
    sources = (CORPUS / "SOURCES.md").read_text()
    assert set(FOLDERS) == set(EXPECTED)
    for folder in FOLDERS:
        assert f"| {folder} |" in sources


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_file_is_read_or_reported(folder):
    found = scan(folder)
    root = CORPUS / folder
    every = {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix in (".yaml", ".yml")
    }
    reported = {i.file for i in found.skipped} | {i.file for i in found.errors}
    assert set(found.files) | reported == every
    assert set(found.files).isdisjoint(reported)
    assert found.files_read == len(found.files)
    assert all(i.line is not None for i in found.skipped)  # templates say where


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_image_is_found(folder):
    found = scan(folder)
    listed: dict[str, list[str]] = {}
    for site in found.sites:
        listed.setdefault(site.file, []).append(
            ("!" if site.error else "") + f"{site.container}={site.reference_text}"
        )
    assert listed == EXPECTED[folder]


def test_only_templates_are_skipped_and_nothing_is_unreadable():
    for folder in FOLDERS:
        found = scan(folder)
        assert found.errors == [], folder
        for issue in found.skipped:
            assert "template" in issue.message, issue


def _gaps(data: bytes, spans: list[tuple[int, int]]) -> list[bytes]:
    out, pos = [], 0
    for start, end in sorted(spans):
        out.append(data[pos:start])
        pos = end
    out.append(data[pos:])
    return out


def _key(site: ImageSite) -> tuple[str, int, str, str]:
    return (site.file, site.line, site.container, site.name)


def _new_tag(site: ImageSite) -> str:
    """A new tag YAML reads the way it read the old one (a number-like tag written bare stays
    number-like), so the way back needs no quotes and restores the very same bytes."""
    part = site.part("tag")
    if part is not None and part.style == "" and not plain_reads_as_string(part.value):
        return "9.99"
    return NEW_TAG


def _rewritable(site: ImageSite) -> bool:
    return site.image is not None and (site.part("tag") or site.part("image")) is not None


@pytest.mark.slow
@pytest.mark.parametrize("folder", FOLDERS)
def test_rewriting_every_tag_changes_only_those_values_and_rewriting_back_restores_bytes(
    folder, tmp_path
):
    original = scan(folder)
    work = tmp_path / folder
    shutil.copytree(CORPUS / folder, work)
    for path in work.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    tagged = [s for s in original.sites if _rewritable(s) and s.tag is not None]
    untagged = [s for s in original.sites if _rewritable(s) and s.tag is None]
    fixed = [s for s in original.sites if not _rewritable(s)]

    # forward: every image with a tag gets a new tag (and a new digest where pinned)
    edits = [Edit(s, _new_tag(s), NEW_DIGEST if s.digest else None) for s in tagged]
    changes = apply(work, edits)
    assert [e for c in changes for e in c.errors] == []
    assert all(c.changed for c in changes)

    # re-parse: the same sites, now reading the new tag; nothing else moved
    again = discover(work)
    by_key = {_key(s): s for s in again.sites}
    assert len(again.sites) == len(original.sites)
    for site in tagged:
        now = by_key[_key(site)]
        assert (now.tag, now.error) == (_new_tag(site), site.error)
        assert now.digest == (NEW_DIGEST if site.digest else None)
        assert now.image.repository == site.image.repository
    for site in original.sites:
        if site not in tagged:
            assert by_key[_key(site)].reference_text == site.reference_text

    # the byte diff is confined to the scalars of the edited sites
    for change in changes:
        old_spans = [(p.start, p.end) for s in tagged if s.file == change.file for p in s.parts]
        new_spans = [
            (p.start, p.end)
            for s in again.sites
            if s.file == change.file and _key(s) in {_key(t) for t in tagged}
            for p in s.parts
        ]
        assert _gaps(change.old, old_spans) == _gaps(change.new, new_spans)

    # back: the original tags and digests restore every file byte for byte
    back = [Edit(by_key[_key(s)], s.tag, s.digest) for s in tagged]
    assert [e for c in apply(work, back) for e in c.errors] == []
    for path in (CORPUS / folder).rglob("*"):
        if path.is_file():
            assert (work / path.relative_to(CORPUS / folder)).read_bytes() == path.read_bytes()

    # images without a tag get one written into their value; values without a tag slot refuse
    for site in untagged:
        data = (work / site.file).read_bytes()
        result = rewrite(data, [Edit(site, NEW_TAG)])
        assert result.errors == []
        (part,) = [p for p in site.parts if p.role == "image"]
        assert (
            result.content
            == data[: part.start]
            + (
                data[part.start : part.end].replace(
                    site.reference_text.encode(), f"{site.reference_text}:{NEW_TAG}".encode()
                )
            )
            + data[part.end :]
        )
    for site in fixed:
        data = (work / site.file).read_bytes()
        result = rewrite(data, [Edit(site, NEW_TAG)])
        assert result.content == data
        assert len(result.errors) == 1


def test_flux_get_started_yields_the_policies_flux_v1_read():
    found = scan("fluxcd__flux-get-started")
    rows = {
        (s.kind, s.name, s.container): (s.policy, s.automated, s.locked, s.error)
        for s in found.sites
        if s.kind != "HelmValues"
    }
    assert rows == {
        ("Deployment", "podinfo", "init"): ("regex:^3.10.*", True, False, None),
        ("Deployment", "podinfo", "podinfod"): ("semver:~3.1", True, False, None),
        ("HelmRelease", "ghost", "chart-image"): ("glob:3.1.1-debian-9-*", False, False, None),
        ("HelmRelease", "mongodb", "chart-image"): ("semver:~4.0", False, False, None),
        ("HelmRelease", "redis", "chart-image"): ("semver:~5.0", True, True, None),
    }
    redis = next(s for s in found.sites if s.name == "redis")
    assert (redis.lock_message, redis.lock_user) == (
        "Halt updates for now",
        "Stefan Prodan <stefan@weave.works>",
    )
    assert redis.reference_text == "bitnami/redis:5.0.7"
    assert not redis.updatable
    assert all(s.namespace == "demo" for s in found.sites if s.kind != "HelmValues")
    podinfod = next(s for s in found.sites if s.container == "podinfod")
    assert podinfod.updatable
    assert podinfod.source == "annotation:fluxcd.io"
