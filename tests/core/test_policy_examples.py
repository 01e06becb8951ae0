"""The documented examples of Flux v1, Flux v2 and Argo CD Image Updater, where they agree
with imagebot's rules (the docstring of each test says where a document differs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from imagebot.policy import Candidate, Decision, decide, parse_policy

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def pick(
    policy: str,
    tags: list[str] | list[Candidate],
    current: str | None = None,
    **options: object,
) -> Decision:
    automated = bool(options.pop("automated", True))
    locked = bool(options.pop("locked", False))
    parsed = parse_policy(policy, **options)  # type: ignore[arg-type]
    candidates = [t if isinstance(t, Candidate) else Candidate(t) for t in tags]
    return decide(parsed, candidates, current, automated=automated, locked=locked)


def built(tag: str, day: int) -> Candidate:
    return Candidate(tag, T0 + timedelta(days=day))


# --- Flux v1: docs/references/automated-image-update.md ---------------------------------


def test_flux_v1_automation_moves_to_the_newest_build() -> None:
    """``fluxcd.io/automated: "true"`` on ``my-app:1.0.0`` updates to ``1.0.1`` or
    ``9e3bdaf``, whichever was pushed last. Moving from a version to a commit id crosses
    families, so it takes families off; with them on, the workload stays on versions."""
    tags = [built("1.0.0", 1), built("1.0.1", 2), built("9e3bdaf", 3)]
    assert pick("glob:*", tags, "1.0.0", same_family=False).tag == "9e3bdaf"
    assert pick("glob:*", tags, "1.0.0").tag == "1.0.1"


def test_flux_v1_semver_tilde_takes_patches_not_minors() -> None:
    decision = pick("semver:~1.0", ["1.0.0", "1.0.1", "1.2.0"], "1.0.0")
    assert decision.tag == "1.0.1"


def test_flux_v1_prereleases_up_to_the_release() -> None:
    policy = "semver: >= 1.0.0-rc.0, <1.0.1"
    tags = ["1.0.0-rc.1", "1.0.0-rc.2"]
    assert pick(policy, tags, "1.0.0-rc.1").tag == "1.0.0-rc.2"
    assert pick(policy, [*tags, "1.0.0", "1.0.1"], "1.0.0-rc.1").tag == "1.0.0"


def test_flux_v1_regex_takes_tags_beginning_with_stg() -> None:
    tags = [built("stg-4s7bsgv", 1), built("stg-9xk2mzq", 2), built("prod-1", 3)]
    assert pick("regex:^stg.*", tags, "stg-4s7bsgv").tag == "stg-9xk2mzq"


def test_flux_v1_glob_takes_tags_beginning_with_dev() -> None:
    tags = [built("dev-9e3bdaf", 1), built("dev-0b1c2d3", 2), built("stg-8f7e6d5", 3)]
    assert pick("glob:dev-*", tags, "dev-9e3bdaf").tag == "dev-0b1c2d3"


def test_flux_v1_automation_off_or_locked_changes_nothing() -> None:
    tags = ["1.0.0", "1.0.1"]
    assert not pick("semver:~1.0", tags, "1.0.0", automated=False).changed
    assert not pick("semver:~1.0", tags, "1.0.0", locked=True).changed


def test_flux_v1_latest_is_not_an_update_target() -> None:
    """Flux v1 only works with immutable tags; ``latest`` is skipped unless asked for."""
    tags = [built("1.0.0", 1), built("latest", 5)]
    assert pick("glob:*", tags, "1.0.0").tag == "1.0.0"


# --- Flux v2: image-reflector-controller ImagePolicy spec and tests ---------------------


def test_flux_v2_semver_range_5_1_x() -> None:
    tags = ["5.0.3", "5.1.0", "5.1.4", "5.1.3", "6.0.0"]
    assert pick("semver:5.1.x", tags).tag == "5.1.4"


def test_flux_v2_semver_selects_the_latest_stable_version() -> None:
    assert pick("semver:>=1.0.0", ["0.9.0", "1.2.0", "1.3.0-rc.1", "1.1.5"]).tag == "1.2.0"


def test_flux_v2_latest_release_candidate() -> None:
    tags = ["1.0.0", "1.1.0-rc.1", "1.1.0-rc.2", "1.1.0", "2.0.0-rc.1"]
    assert pick("semver:^1.x-0", tags, filter=".*-rc.*").tag == "1.1.0-rc.2"


def test_flux_v2_minio_release_timestamps_alphabetical() -> None:
    tags = [
        "RELEASE.2023-12-02T10-51-33Z",
        "RELEASE.2024-01-16T16-07-38Z",
        "RELEASE.2023-09-30T07-02-29Z",
        "latest",
    ]
    decision = pick(
        "alphabetical:asc", tags, filter=r"^RELEASE\.(?P<timestamp>.*)Z$", extract="$timestamp"
    )
    assert decision.tag == "RELEASE.2024-01-16T16-07-38Z"


def test_flux_v2_main_branch_builds_by_timestamp() -> None:
    """``flux create image policy --select-numeric=asc
    --filter-regex='^main-[a-f0-9]+-(?P<ts>[0-9]+)' --filter-extract='$ts'``"""
    tags = ["main-3f2a9c1-1700000000", "main-0b1c2d3-1700000100", "dev-aaaaaaa-1800000000"]
    decision = pick("numerical:asc", tags, filter="^main-[a-f0-9]+-(?P<ts>[0-9]+)", extract="$ts")
    assert decision.tag == "main-0b1c2d3-1700000100"


def test_flux_v2_semver_skips_tags_that_are_not_versions() -> None:
    tags = ["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"]
    assert pick("semver:1.0.x", tags).tag == "1.0.1"


def test_flux_v2_semver_keeps_the_v_prefix_it_found() -> None:
    assert pick("semver:1.0.x", ["v1.2.3", "v1.0.0", "v0.1.0"]).tag == "v1.0.0"


def test_flux_v2_semver_with_an_unknown_prefix_finds_nothing() -> None:
    assert pick("semver:1.0.x", ["b1.2.3", "b1.0.0", "b0.1.0"]).tag is None


def test_flux_v2_semver_without_a_match_finds_nothing() -> None:
    assert pick("semver:1.0.x", ["1.2.0"]).tag is None


def test_flux_v2_alphabetical_ubuntu_calver() -> None:
    tags = ["16.04", "16.04.1", "16.10", "20.04", "20.10"]
    assert pick("alphabetical:asc", tags).tag == "20.10"
    assert pick("alphabetical:desc", tags).tag == "16.04"


def test_flux_v2_alphabetical_timestamps_with_prefix() -> None:
    tags = ["rel-1606234201", "rel-1606364286", "rel-1606334092", "rel-1606334284"]
    assert pick("alphabetical", tags).tag == "rel-1606364286"


def test_flux_v2_filter_with_capture_group() -> None:
    decision = pick("numerical", ["ver1", "ver2", "ver3", "rel1"], filter=r"ver(\d+)", extract="$1")
    assert decision.tag == "ver3"


# --- Argo CD Image Updater: docs/basics/update-strategies.md ------------------------------


def test_argocd_patch_branch_constraint() -> None:
    tags = ["1.2.0", "1.2.5", "1.2.12", "1.3.0"]
    assert pick("semver:1.2.x", tags).tag == "1.2.12"


def test_argocd_minor_releases_within_major_1() -> None:
    tags = ["1.2.12", "1.3.0", "1.15.2", "2.0.0"]
    assert pick("semver:1.x", tags).tag == "1.15.2"


def test_argocd_v_prefix_on_either_side_is_equal() -> None:
    assert pick("semver:v1.x", ["1.0", "2.0"]).tag == "1.0"
    assert pick("semver:1.x", ["v1.0", "v2.0"]).tag == "v1.0"


def test_argocd_prereleases_need_a_dash_zero_suffix() -> None:
    tags = ["v1.9.0", "v2.0-rc1"]
    assert pick("semver:2.x", tags).tag is None
    assert pick("semver:2.x-0", tags).tag == "v2.0-rc1"


def test_argocd_no_constraint_means_the_highest_version() -> None:
    assert pick("semver:", ["1.26.0", "1.27.1", "mainline", "1.25.9"]).tag == "1.27.1"


def test_argocd_tilde_within_a_minor_release() -> None:
    assert pick("semver:~1.26", ["1.26.0", "1.26.3", "1.27.0"]).tag == "1.26.3"


def test_argocd_newest_build_with_allowed_commit_ids() -> None:
    tags = [built("a5fb3d3", 1), built("f7bb2e3", 2), built("latest", 3), built("master", 3)]
    decision = pick("newest-build", tags, filter="^[0-9a-f]{7}$")
    assert decision.tag == "f7bb2e3"


def test_argocd_newest_build_tie_never_picks_latest() -> None:
    """Argo CD picks ``latest`` among ``f33bacd``, ``dev`` and ``latest`` built at the same
    moment and advises filtering; imagebot never picks ``latest`` unless asked to."""
    tags = [built("f33bacd", 1), built("dev", 1), built("latest", 1)]
    assert pick("newest-build", tags).tag == "f33bacd"
