"""``imagebot explain WORKLOAD``: every candidate tag and why, against a real registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli.ux_support import invoke, run, write_tree
from tests.gitops.helpers import isolate_git, make_remote
from tests.harness import RegistryServer
from tests.update.helpers import automated, deployment

NOW = datetime.now(UTC)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def app(registry: RegistryServer, repo_name: str) -> str:
    """An image with releases, a prerelease, another family and ``latest``."""
    image = f"{repo_name}/app"
    registry.push(
        image, "1.0.0", created=NOW - timedelta(days=10), platforms=["linux/amd64", "linux/arm64"]
    )
    registry.push(image, "1.0.1", created=NOW - timedelta(days=3), platforms=["linux/amd64"])
    registry.push(image, ["1.1.0", "2.0.0", "1.0.2-rc.1", "1.0.1-alpine", "latest"], created=NOW)
    return f"{registry.host}/{image}"


def explain(root: Path, state: Path, *args: str) -> Any:
    return invoke("explain", "--repo", str(root), *args, state=state)


def as_json(root: Path, state: Path, *args: str) -> dict[str, Any]:
    result = explain(root, state, *args, "--output", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def only(data: dict[str, Any]) -> dict[str, Any]:
    (container,) = data["containers"]
    return container


def categories(container: dict[str, Any]) -> dict[str, str]:
    return {c["tag"]: c["category"] for c in container["candidates"]}


def test_an_update_names_the_new_tag_and_why(tmp_path: Path, state: Path, app: str):
    root = write_tree(
        tmp_path / "repo",
        {"app.yaml": deployment("web", f"{app}:1.0.0", annotations=automated("semver:~1.0"))},
    )

    result = explain(root, state, "apps:deployment/web")

    assert result.exit_code == 0, result.stderr
    assert "status    would update to 1.0.1" in result.stdout
    assert "1.0.1 is the highest qualifying version under semver:~1.0" in result.stdout


def test_every_registry_tag_gets_a_verdict_with_its_category(tmp_path: Path, state: Path, app: str):
    root = write_tree(
        tmp_path / "repo",
        {"app.yaml": deployment("web", f"{app}:1.0.0", annotations=automated("semver:~1.0"))},
    )

    container = only(as_json(root, state, "apps:deployment/web"))

    assert categories(container) == {
        "1.0.1": "selected",
        "1.0.0": "current",
        "1.1.0": "policy",
        "2.0.0": "policy",
        "1.0.2-rc.1": "prerelease",
        "1.0.1-alpine": "family",
        "latest": "latest",
    }
    assert container["status"] == "update"
    assert container["status_text"] == "would update to 1.0.1"
    assert container["chosen"] == "1.0.1"
    assert all(c["reason"] for c in container["candidates"])


def test_ranks_below_the_current_tag_are_downgrades_and_it_is_up_to_date(
    tmp_path: Path, state: Path, app: str
):
    root = write_tree(
        tmp_path / "repo",
        {
            "app.yaml": deployment(
                "web", f"{app}:1.1.0", annotations=automated("semver:>=1.0.0 <2.0.0")
            )
        },
    )

    container = only(as_json(root, state, "web"))

    assert container["status_text"] == "up to date"
    found = categories(container)
    assert found["1.1.0"] == "selected"
    assert found["1.0.1"] == found["1.0.0"] == "downgrade"


def test_filter_rejections_are_explained(
    tmp_path: Path, state: Path, registry: RegistryServer, repo_name: str
):
    image = f"{repo_name}/ci"
    registry.push(image, ["main-aaa-100", "main-bbb-200", "feature-ccc-300"], created=NOW)
    ref = f"{registry.host}/{image}"
    policy = (
        "apiVersion: imagebot.io/v1\nkind: ImagePolicy\nmetadata:\n  name: ci\n"
        "spec:\n  policy: numerical:asc\n"
        "  filter: '^main-[a-f0-9]+-(?P<ts>[0-9]+)$'\n  extract: '$ts'\n"
    )
    manifest = deployment("ci", f"{ref}:main-aaa-100").replace(
        b"   # the app", b' # {"$imagepolicy": "apps:ci"}'
    )
    root = write_tree(tmp_path / "repo", {"ci.yaml": manifest, "policies/ci.yaml": policy})

    container = only(as_json(root, state, "deployment/ci"))

    found = categories(container)
    assert found == {
        "main-bbb-200": "selected",
        "main-aaa-100": "current",
        "feature-ccc-300": "filter",
    }
    rejected = next(c for c in container["candidates"] if c["tag"] == "feature-ccc-300")
    assert "does not match the filter" in rejected["reason"]
    assert container["filter"] == "^main-[a-f0-9]+-(?P<ts>[0-9]+)$"


def test_a_locked_workload_says_what_the_policy_would_pick(tmp_path: Path, state: Path, app: str):
    annotations = {
        **automated("semver:*"),
        "imagebot.io/locked": "true",
        "imagebot.io/locked_msg": "incident 42",
    }
    root = write_tree(
        tmp_path / "repo", {"app.yaml": deployment("web", f"{app}:1.0.0", annotations=annotations)}
    )

    result = explain(root, state, "web")

    assert result.exit_code == 0, result.stderr
    assert "locked (incident 42): the policy would pick 2.0.0" in result.stdout
    container = only(as_json(root, state, "web"))
    assert (container["status"], container["chosen"], container["new_tag"]) == (
        "locked",
        "2.0.0",
        None,
    )


def test_a_workload_without_automation_or_policy_is_not_automated(
    tmp_path: Path, state: Path, app: str
):
    root = write_tree(tmp_path / "repo", {"app.yaml": deployment("web", f"{app}:1.0.0")})

    container = only(as_json(root, state, "web"))

    assert container["status_text"] == "not automated (no tag policy)"
    assert container["candidates"] == []


def test_nothing_qualifying_is_a_no_match_with_the_reason(tmp_path: Path, state: Path, app: str):
    root = write_tree(
        tmp_path / "repo",
        {"app.yaml": deployment("web", f"{app}:1.0.0", annotations=automated("semver:~9.0"))},
    )

    container = only(as_json(root, state, "web"))

    assert container["status"] == "no-match"
    assert container["status_text"] == "no match: no tag qualifies"
    assert "no tag qualifies under semver:~9.0" in container["reason"]


def test_build_time_and_platforms_of_the_current_and_chosen_tags(
    tmp_path: Path, state: Path, app: str
):
    root = write_tree(
        tmp_path / "repo",
        {"app.yaml": deployment("web", f"{app}:1.0.0", annotations=automated("semver:~1.0"))},
    )

    container = only(as_json(root, state, "web"))
    text = explain(root, state, "web").stdout

    assert container["current_image"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert container["chosen_image"]["platforms"] == ["linux/amd64"]
    assert container["chosen_image"]["age"] == "3 days ago"
    assert "current   1.0.0  built 1 week ago  linux/amd64, linux/arm64" in text
    assert "chosen    1.0.1  built 3 days ago  linux/amd64" in text
    assert "1.0.1 offers fewer platforms than 1.0.0: no linux/arm64" in container["notes"]


def test_a_pinned_digest_is_described_as_what_runs_not_where_the_tag_moved(
    tmp_path: Path, state: Path, registry: RegistryServer, repo_name: str
):
    image = f"{repo_name}/pinned"
    pinned = registry.push(
        image, "1.0.0", created=NOW - timedelta(days=10), platforms=["linux/amd64"]
    )
    registry.push(image, "1.0.0", created=NOW, platforms=["linux/amd64", "linux/arm64"])
    reference = f"{registry.host}/{image}:1.0.0@{pinned.digest}"
    root = write_tree(
        tmp_path / "repo",
        {"app.yaml": deployment("web", reference, annotations=automated("semver:~1.0"))},
    )

    container = only(as_json(root, state, "web"))

    assert container["current_image"]["digest"] == pinned.digest
    assert container["current_image"]["platforms"] == ["linux/amd64"]
    assert container["current_image"]["age"] == "1 week ago"


def test_other_tags_details_are_read_only_with_all(tmp_path: Path, state: Path, app: str):
    root = write_tree(
        tmp_path / "repo",
        {"app.yaml": deployment("web", f"{app}:1.0.0", annotations=automated("semver:~1.0"))},
    )

    default = {
        c["tag"]: c["created"] for c in only(as_json(root, tmp_path / "s1", "web"))["candidates"]
    }
    everything = {
        c["tag"]: c["created"]
        for c in only(as_json(root, tmp_path / "s2", "web", "--all"))["candidates"]
    }

    assert {tag for tag, created in default.items() if created} == {"1.0.0", "1.0.1"}
    assert all(everything.values())


def test_text_lists_a_few_rejections_per_category_without_all(
    tmp_path: Path, state: Path, registry: RegistryServer, repo_name: str
):
    image = f"{repo_name}/many"
    registry.push(image, ["1.0.0", *(f"2.{i}.0" for i in range(8))], created=NOW)
    root = write_tree(
        tmp_path / "repo",
        {
            "app.yaml": deployment(
                "web", f"{registry.host}/{image}:1.0.0", annotations=automated("semver:~1.0")
            )
        },
    )

    short = explain(root, state, "web").stdout
    full = explain(root, state, "web", "--all").stdout

    assert "… and 3 more tags (policy: 3); --all lists every tag" in short
    assert sum(line.startswith("2.") for line in short.splitlines()) == 5
    assert sum(line.startswith("2.") for line in full.splitlines()) == 8


def test_kind_and_name_are_enough_when_unambiguous_else_exit_2(
    tmp_path: Path, state: Path, app: str
):
    files = {
        "a.yaml": deployment("web", f"{app}:1.0.0", namespace="one"),
        "b.yaml": deployment("web", f"{app}:1.0.0", namespace="two"),
    }
    root = write_tree(tmp_path / "repo", files)

    ambiguous = explain(root, state, "deployment/web")
    exact = explain(root, state, "two:deployment/web", "-o", "json")

    assert ambiguous.exit_code == 2
    assert (
        "'deployment/web' names 2 workloads: one:deployment/web, two:deployment/web"
        in ambiguous.stderr
    )
    assert json.loads(exact.stdout)["workload"] == "two:deployment/web"


def test_an_unknown_workload_exits_2_with_a_suggestion(tmp_path: Path, state: Path, app: str):
    root = write_tree(tmp_path / "repo", {"app.yaml": deployment("web", f"{app}:1.0.0")})

    result = explain(root, state, "apps:deployment/wbe")

    assert result.exit_code == 2
    assert "imagebot: error: no workload 'apps:deployment/wbe' in the manifests" in result.stderr
    assert "hint: did you mean apps:deployment/web?" in result.stderr


def test_container_option_picks_one_container(tmp_path: Path, state: Path, app: str):
    two = deployment("web", f"{app}:1.0.0", annotations=automated("semver:~1.0")).replace(
        b"      containers:\n",
        (
            f"      initContainers:\n        - name: init\n          image: {app}:1.0.0\n"
            "      containers:\n"
        ).encode(),
    )
    root = write_tree(tmp_path / "repo", {"app.yaml": two})

    both = as_json(root, state, "web")
    one = as_json(root, state, "web", "--container", "init")
    missing = explain(root, state, "web", "--container", "nope")

    assert sorted(c["container"] for c in both["containers"]) == ["app", "init"]
    assert [c["container"] for c in one["containers"]] == ["init"]
    assert missing.exit_code == 2
    assert "hint: its containers: app, init" in missing.stderr


def test_a_registry_failure_is_the_containers_status_and_exits_1(tmp_path: Path, state: Path):
    config = (
        write_tree(tmp_path, {"c.yaml": 'registries:\n  "127.0.0.1:9":\n    retries: 0\n'})
        / "c.yaml"
    )
    root = write_tree(
        tmp_path / "repo",
        {"app.yaml": deployment("web", "127.0.0.1:9/x/y:1.0.0", annotations=automated("semver:*"))},
    )

    result = explain(root, state, "web", "--config", str(config))

    assert result.exit_code == 1
    assert "status    error: 127.0.0.1:9/x/y: cannot connect" in result.stdout


def test_piped_text_has_no_colour_codes(tmp_path: Path, state: Path, app: str):
    root = write_tree(
        tmp_path / "repo",
        {"app.yaml": deployment("web", f"{app}:1.0.0", annotations=automated("semver:~1.0"))},
    )

    result = run("explain", "--repo", str(root), "web", state=state)

    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout + result.stderr
    header = result.stdout.splitlines()[0]
    assert header == "apps:deployment/web  container app  app.yaml:15"


def test_a_git_url_is_cloned_into_the_state_directory_and_explained(
    tmp_path: Path, state: Path, app: str, monkeypatch: pytest.MonkeyPatch
):
    for key, value in isolate_git(tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    remote = make_remote(
        tmp_path / "forge",
        {
            "deploy/app.yaml": deployment(
                "web", f"{app}:1.0.0", annotations=automated("semver:~1.0")
            )
        },
    )

    result = invoke("explain", "--repo", remote.url, "web", "-o", "json", state=state)

    assert result.exit_code == 0, result.stderr
    assert only(json.loads(result.stdout))["new_tag"] == "1.0.1"
    assert (state / "repos").is_dir()
