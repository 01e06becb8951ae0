"""``list-images`` and ``history`` fit 100 columns on a pipe (the terminal's width on one),
long values shortened in the middle; ``--wide`` prints everything, like ``kubectl get -o wide``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.text import Text

from imagebot.cli.tables import GAP, fit_widths, shorten
from imagebot.config import Config
from imagebot.manifests import scan_bytes
from imagebot.store import Store, store_path
from imagebot.update import Resolution, history
from tests.cli.ux_support import run, write_tree
from tests.update.helpers import deployment

LONG_IMAGE = "registry.internal.example.com/platform-team/observability/prometheus-node-exporter"
LONG_TAG = "1.8.2-debian-12-r14"
LONG_NAME = "observability-prometheus-node-exporter-canary"
LONG_FILE = "clusters/production-eu-west-1/observability/prometheus/node-exporter/deployment.yaml"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "fleet",
        {
            LONG_FILE: deployment(
                LONG_NAME,
                f"{LONG_IMAGE}:{LONG_TAG}",
                annotations={"fluxcd.io/automated": "true", "fluxcd.io/tag.app": "semver:~1.8"},
                namespace="observability-production",
            ),
            "apps/web.yaml": deployment("web", "nginx:1.25.3"),
        },
    )


@pytest.fixture
def state(tmp_path: Path) -> Path:
    where = tmp_path / "state"
    (site,) = scan_bytes(
        deployment(LONG_NAME, f"{LONG_IMAGE}:{LONG_TAG}", namespace="observability-production"),
        LONG_FILE,
    ).sites
    update = Resolution(site, "update", "newer", policy="semver:~1.8", new_tag="1.8.3-debian-12-r1")
    with Store.open(store_path(Config(state_dir=str(where)))) as store:
        history.record(
            store,
            [update],
            repository="platform-observability-production-fleet",
            url="file:///fleet.git",
            branch="main",
            target="main",
            mode="pull-request",
            commit="a" * 40,
            pushed=True,
            pull_request="https://gitlab.example.com/platform/fleet/-/merge_requests/1234",
            when=1_700_000_000.0,
        )
    return where


def at_width(*args: str, state: Path, columns: str = "") -> list[str]:
    result = run(*args, state=state, env={"COLUMNS": columns})
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_list_images_fits_100_columns_with_long_image_names(checkout: Path, tmp_path: Path):
    lines = at_width("list-images", "--repo", str(checkout), state=tmp_path / "s")

    assert max(len(line) for line in lines) <= 100, "\n".join(lines)
    assert lines[0].split() == [
        "FILE", "WORKLOAD", "CONTAINER", "IMAGE", "TAG", "POLICY", "AUTOMATED", "LOCKED"
    ]  # fmt: skip
    long_row = next(line for line in lines if "semver:~1.8" in line)
    image = long_row.split()[3]
    assert image.startswith("regist")
    assert "…" in image
    assert image.endswith("orter")
    assert f"  {LONG_TAG}  " in long_row  # a tag is never shortened


def test_list_images_keeps_short_values_whole(checkout: Path, tmp_path: Path):
    lines = at_width("list-images", "--repo", str(checkout), state=tmp_path / "s")

    web = next(line for line in lines if " nginx " in line)
    assert web.split()[2:5] == ["app", "nginx", "1.25.3"]


def test_list_images_wide_prints_every_value_in_full(checkout: Path, tmp_path: Path):
    lines = at_width("list-images", "--repo", str(checkout), "--wide", state=tmp_path / "s")

    row = next(line for line in lines if LONG_IMAGE in line)
    assert f"{LONG_FILE}:" in row
    assert f"observability-production:deployment/{LONG_NAME}" in row
    assert "…" not in "\n".join(lines)


def test_list_images_uses_the_width_columns_says(checkout: Path, tmp_path: Path):
    lines = at_width("list-images", "--repo", str(checkout), state=tmp_path / "s", columns="250")

    assert any(LONG_IMAGE in line for line in lines)


def test_history_fits_100_columns_with_long_values(state: Path):
    lines = at_width("history", state=state)

    assert max(len(line) for line in lines) <= 100, "\n".join(lines)
    assert lines[0].split() == ["TIME", "WORKLOAD", "CONTAINER", "CHANGE", "COMMIT"]
    assert "…" in lines[1]
    assert f"{LONG_TAG} -> 1.8.3-debian-12-r1" in lines[1]  # a change is never shortened
    assert lines[1].split()[-1].startswith("aaaa")  # the commit's start ...
    assert lines[1].split()[-1].endswith("/1234")  # ... and the pull request's number


def test_history_wide_prints_every_value_in_full(state: Path):
    lines = at_width("history", "--wide", state=state)

    assert f"observability-production:deployment/{LONG_NAME}" in lines[1]
    assert "https://gitlab.example.com/platform/fleet/-/merge_requests/1234" in lines[1]
    assert LONG_FILE in lines[1]


def test_a_long_value_keeps_its_start_and_end():
    assert shorten(Text("ghcr.io/org/very-long-name/service"), 20).plain == "ghcr.io/or…e/service"


def test_a_value_that_fits_is_unchanged():
    assert shorten(Text("nginx"), 5).plain == "nginx"


def test_wide_characters_count_as_two_cells():
    shortened = shorten(Text("名前" * 10), 9)
    assert shortened.cell_len <= 9
    assert shortened.plain.startswith("名前")


@given(
    natural=st.lists(st.integers(min_value=1, max_value=120), min_size=1, max_size=10),
    width=st.integers(min_value=40, max_value=200),
)
def test_fitted_widths_fit_when_the_minimums_allow_and_never_grow(natural: list[int], width: int):
    minimum = [min(8, n) for n in natural]
    widths = fit_widths(natural, minimum, width, [False] * len(natural))

    assert all(m <= w <= n for w, n, m in zip(widths, natural, minimum, strict=True))
    if sum(minimum) + GAP * (len(natural) - 1) <= width:
        assert sum(widths) + GAP * (len(natural) - 1) <= width


def test_list_images_says_locked_and_wide_says_who_and_why(tmp_path: Path):
    locked = {
        "fluxcd.io/automated": "true",
        "fluxcd.io/locked": "true",
        "fluxcd.io/locked_msg": "Waiting for the database migration (PLAT-142)",
        "fluxcd.io/locked_user": "Jane Doe <jane@example.com>",
    }
    root = write_tree(
        tmp_path / "fleet", {"orders.yaml": deployment("orders", "orders:1.0", annotations=locked)}
    )

    short = at_width("list-images", "--repo", str(root), state=tmp_path / "s")
    wide = at_width("list-images", "--repo", str(root), "--wide", state=tmp_path / "s")

    assert short[1].endswith("  yes        locked")
    assert wide[1].endswith(
        "locked by Jane Doe <jane@example.com>: Waiting for the database migration (PLAT-142)"
    )
