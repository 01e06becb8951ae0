"""Helpers for the manifests tests: small checkouts written to a directory."""

from __future__ import annotations

from pathlib import Path

from imagebot.manifests import Discovery, ImageSite

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_bytes(content.encode("utf-8"))
        else:
            path.write_bytes(content)
    return root


def only(found: Discovery) -> ImageSite:
    assert len(found.sites) == 1, [s.to_dict() for s in found.sites]
    return found.sites[0]


def by_container(found: Discovery) -> dict[str, ImageSite]:
    return {site.container: site for site in found.sites}
