"""A file's cached discovery result holds only while the charts around it stay the same.

The same bytes give sites in a plain folder and nothing (a skipped Helm template) in a
chart's ``templates/``; a ``values*`` file next to a Chart.yaml is read as chart values.
"""

from __future__ import annotations

from pathlib import Path

from imagebot.manifests import DiscoveryCache, discover
from imagebot.manifests.yamlsource import blob_id
from tests.manifests.helpers import write_tree

CHART = "apiVersion: v2\nname: chart\nversion: 1.0.0\n"
TEMPLATE = (
    "# {{- if .Values.on }} (a comment to YAML, a directive to Helm)\n"
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n"
    "    - name: app\n      image: nginx:1.25.3\n"
)
VALUES = "image:\n  repository: redis\n  tag: 7.2.0\n"


def _blobs(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): blob_id(p.read_bytes()) for p in root.rglob("*.yaml")}


def _same_as_fresh(root: Path, cache: DiscoveryCache) -> None:
    cached = discover(root, blobs=_blobs(root), cache=cache)
    fresh = discover(root)
    assert cached.to_dict() == fresh.to_dict()


def test_a_chart_yaml_added_turns_a_cached_file_into_a_skipped_template(tmp_path: Path):
    write_tree(tmp_path, {"chart/templates/pod.yaml": TEMPLATE})
    cache = DiscoveryCache()
    assert len(discover(tmp_path, blobs=_blobs(tmp_path), cache=cache).sites) == 1
    (tmp_path / "chart/Chart.yaml").write_text(CHART)

    found = discover(tmp_path, blobs=_blobs(tmp_path), cache=cache)

    assert found.sites == []
    assert [s.file for s in found.skipped] == ["chart/templates/pod.yaml"]
    _same_as_fresh(tmp_path, cache)


def test_a_chart_yaml_removed_turns_a_cached_template_back_into_sites(tmp_path: Path):
    write_tree(tmp_path, {"chart/Chart.yaml": CHART, "chart/templates/pod.yaml": TEMPLATE})
    cache = DiscoveryCache()
    assert discover(tmp_path, blobs=_blobs(tmp_path), cache=cache).sites == []
    (tmp_path / "chart/Chart.yaml").unlink()

    found = discover(tmp_path, blobs=_blobs(tmp_path), cache=cache)

    assert [s.reference_text for s in found.sites] == ["nginx:1.25.3"]
    _same_as_fresh(tmp_path, cache)


def test_a_chart_yaml_added_makes_a_cached_values_file_chart_values(tmp_path: Path):
    write_tree(tmp_path, {"chart/values.yaml": VALUES})
    cache = DiscoveryCache()
    before = discover(tmp_path, blobs=_blobs(tmp_path), cache=cache)
    (tmp_path / "chart/Chart.yaml").write_text(CHART)

    found = discover(tmp_path, blobs=_blobs(tmp_path), cache=cache)

    assert [s.kind for s in found.sites] == ["HelmValues"]
    assert [s.kind for s in before.sites] != ["HelmValues"]
    _same_as_fresh(tmp_path, cache)
