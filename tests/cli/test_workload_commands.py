"""``imagebot automate|deautomate|lock|unlock|policy set|policy unset`` on real Git remotes:
the exact bytes committed, the commit, dry runs, and what is refused."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import httpx
import pytest
import respx

from imagebot.cli import manual
from imagebot.manifests.annotate import set_policy
from tests.cli.workload_support import (
    PERSON,
    changed_files,
    invoke,
    isolate,
    message,
    original,
    seed_fleet,
)
from tests.gitops.helpers import Remote, Writer, git, make_remote

PODINFO = "workloads/podinfo-dep.yaml"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


@pytest.fixture
def fleet(tmp_path: Path) -> Remote:
    return seed_fleet(tmp_path)


def test_automate_turns_ghosts_false_into_true_and_nothing_else(fleet: Remote):
    result = invoke("automate", "demo:helmrelease/ghost", "--repo", fleet.url)

    assert result.exit_code == 0, result.output
    assert fleet.read("releases/ghost.yaml") == original("releases/ghost.yaml").replace(
        b'    fluxcd.io/automated: "false"\n', b'    fluxcd.io/automated: "true"\n'
    )
    assert changed_files(fleet) == ["releases/ghost.yaml"]
    assert message(fleet).splitlines()[0] == "Automated: demo:helmrelease/ghost"
    assert "Automated: demo:helmrelease/ghost (releases/ghost.yaml)" in result.stdout
    assert '~ fluxcd.io/automated: "false" -> "true"' in result.stdout


def test_unlock_removes_redis_lock_lines_and_only_those(fleet: Remote):
    result = invoke("unlock", "demo:helmrelease/redis", "--repo", fleet.url)

    assert result.exit_code == 0, result.output
    assert fleet.read("releases/redis.yaml") == original("releases/redis.yaml").replace(
        b'    fluxcd.io/locked: "true"\n'
        b'    fluxcd.io/locked_msg: "Halt updates for now"\n'
        b'    fluxcd.io/locked_user: "Stefan Prodan <stefan@weave.works>"\n',
        b"",
    )
    assert message(fleet) == (
        "Unlocked: demo:helmrelease/redis\n\nreleases/redis.yaml:\n"
        "  - fluxcd.io/locked\n  - fluxcd.io/locked_msg\n  - fluxcd.io/locked_user\n\n"
        f"Requested-by: {PERSON}"
    )


def test_lock_writes_flux_annotations_with_message_and_git_user(fleet: Remote):
    result = invoke("lock", "demo:deployment/podinfo", "-m", "Halt: demo day", "--repo", fleet.url)

    assert result.exit_code == 0, result.output
    assert fleet.read(PODINFO) == original(PODINFO).replace(
        b"    fluxcd.io/tag.podinfod: semver:~3.1\n",
        b"    fluxcd.io/tag.podinfod: semver:~3.1\n"
        b'    fluxcd.io/locked: "true"\n'
        b'    fluxcd.io/locked_msg: "Halt: demo day"\n'
        b"    fluxcd.io/locked_user: Test Person <person@example.test>\n",
    )
    text = message(fleet)
    assert text.startswith("Locked: demo:deployment/podinfo\n\nHalt: demo day\n\n")
    assert text.endswith(f"Requested-by: {PERSON}")

    listed = invoke("list-images", "--repo", str(_checkout(fleet)), "--output", "json")
    rows = [r for r in json.loads(listed.stdout) if r["name"] == "podinfo"]
    assert {(r["locked"], r["lock_message"], r["lock_user"]) for r in rows} == {
        (True, "Halt: demo day", PERSON)
    }


def test_locking_again_the_same_way_changes_nothing(fleet: Remote):
    assert invoke("lock", "deployment/podinfo", "--repo", fleet.url).exit_code == 0
    tip = fleet.tip()

    again = invoke("lock", "deployment/podinfo", "--repo", fleet.url)

    assert again.exit_code == 0, again.output
    assert again.stdout == "demo:deployment/podinfo: already locked.\n"
    assert fleet.tip() == tip


def test_deautomate_removes_the_automated_annotation(fleet: Remote):
    result = invoke("deautomate", "demo:deployment/podinfo", "--repo", fleet.url)

    assert result.exit_code == 0, result.output
    assert fleet.read(PODINFO) == original(PODINFO).replace(
        b'    fluxcd.io/automated: "true"\n', b""
    )
    assert message(fleet).splitlines()[0] == "Deautomated: demo:deployment/podinfo"


def test_automating_an_automated_workload_commits_nothing(fleet: Remote):
    tip = fleet.tip()
    result = invoke("automate", "demo:deployment/podinfo", "--repo", fleet.url)

    assert result.exit_code == 0, result.output
    assert "already automated" in result.stdout
    assert fleet.tip() == tip


def test_policy_set_changes_the_existing_flux_key_in_place(fleet: Remote):
    result = invoke(
        "policy", "set", "demo:deployment/podinfo", "semver:~3.2", "-c", "podinfod",
        "--repo", fleet.url,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert fleet.read(PODINFO) == original(PODINFO).replace(
        b"fluxcd.io/tag.podinfod: semver:~3.1", b"fluxcd.io/tag.podinfod: semver:~3.2"
    )
    assert message(fleet).splitlines()[0] == "Updated policies: demo:deployment/podinfo"


def test_policy_set_writes_a_bare_pattern_as_glob_for_every_container(fleet: Remote):
    result = invoke(
        "policy", "set", "demo:deployment/podinfo", "3.*", "--all-containers", "--repo", fleet.url
    )

    assert result.exit_code == 0, result.output
    assert fleet.read(PODINFO) == original(PODINFO).replace(
        b"fluxcd.io/tag.init: regex:^3.10.*", b"fluxcd.io/tag.init: glob:3.*"
    ).replace(b"fluxcd.io/tag.podinfod: semver:~3.1", b"fluxcd.io/tag.podinfod: glob:3.*")


def test_policy_unset_removes_the_containers_key(fleet: Remote):
    result = invoke("policy", "unset", "demo:deployment/podinfo", "-c", "init", "--repo", fleet.url)

    assert result.exit_code == 0, result.output
    assert fleet.read(PODINFO) == original(PODINFO).replace(
        b"    fluxcd.io/tag.init: regex:^3.10.*\n", b""
    )


def test_an_invalid_policy_is_a_usage_error_and_commits_nothing(fleet: Remote):
    tip = fleet.tip()
    result = invoke(
        "policy", "set", "deployment/podinfo", "regex:(", "-c", "init", "--repo", fleet.url
    )

    assert result.exit_code == 2
    assert "regex:(" in result.stderr
    assert fleet.tip() == tip


def test_several_containers_need_to_be_named(fleet: Remote):
    result = invoke("policy", "set", "deployment/podinfo", "glob:*", "--repo", fleet.url)

    assert result.exit_code == 2
    assert "has 2 containers" in result.stderr
    assert "--container init / podinfod, or --all-containers" in result.stderr


# --- a workload without annotations, in imagebot's own prefix --------------------------------

PLAIN = textwrap.dedent(
    """\
    ---
    # web: the storefront
    apiVersion: apps/v1
    kind: Deployment
    metadata:
       name: web   # three-space indent
       namespace: shop
       labels:
          app: web
    spec:
       template:
          spec:
             containers:
             - name: app
               image: registry.example/web:1.0.0
    """
).replace("\n", "\r\n")


@pytest.fixture
def shop(tmp_path: Path) -> Remote:
    where = tmp_path / "shop"
    where.mkdir()
    return make_remote(where, {"apps/web.yaml": PLAIN.encode()})


def test_policy_set_creates_annotations_in_the_files_own_style(shop: Remote):
    result = invoke("policy", "set", "shop:deployment/web", "semver:^1", "--repo", shop.url)

    assert result.exit_code == 0, result.output
    assert (
        shop.read("apps/web.yaml")
        == PLAIN.replace(
            "      app: web\r\n",
            "      app: web\r\n   annotations:\r\n      imagebot.io/tag.app: semver:^1\r\n",
        ).encode()
    )


def test_automate_then_deautomate_restores_the_file_byte_for_byte(shop: Remote):
    assert invoke("automate", "shop:deployment/web", "--repo", shop.url).exit_code == 0
    assert b'imagebot.io/automated: "true"' in shop.read("apps/web.yaml")

    assert invoke("deautomate", "shop:deployment/web", "--repo", shop.url).exit_code == 0
    assert shop.read("apps/web.yaml") == PLAIN.encode()


def test_deautomating_a_marked_image_writes_automated_false(tmp_path: Path):
    files = {
        "apps/web.yaml": (
            b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n"
            b"spec:\n  template:\n    spec:\n      containers:\n      - name: app\n"
            b'        image: registry.example/web:1.0.0 # {"$imagepolicy": "shop:web"}\n'
        ),
        "policies/web.yaml": (
            b"apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\n"
            b"metadata:\n  name: web\n  namespace: shop\n"
            b"spec:\n  imageRepositoryRef:\n    name: web\n  policy:\n    semver:\n"
            b"      range: 1.x\n---\napiVersion: image.toolkit.fluxcd.io/v1beta2\n"
            b"kind: ImageRepository\nmetadata:\n  name: web\n  namespace: shop\n"
            b"spec:\n  image: registry.example/web\n"
        ),
    }
    where = tmp_path / "marked"
    where.mkdir()
    remote = make_remote(where, files)

    result = invoke("deautomate", "shop:deployment/web", "--repo", remote.url)

    assert result.exit_code == 0, result.output
    assert remote.read("apps/web.yaml") == files["apps/web.yaml"].replace(
        b"  namespace: shop\n",
        b'  namespace: shop\n  annotations:\n    imagebot.io/automated: "false"\n',
    )


# --- naming workloads --------------------------------------------------------------------------


def test_an_unknown_workload_is_a_usage_error_with_a_suggestion(fleet: Remote):
    result = invoke("lock", "demo:deployment/podinf", "--repo", fleet.url)

    assert result.exit_code == 2
    assert "no workload demo:deployment/podinf" in result.stderr
    assert "did you mean demo:deployment/podinfo?" in result.stderr


def test_a_workload_in_two_files_needs_file(tmp_path: Path):
    web = PLAIN.replace("\r\n", "\n").encode()
    where = tmp_path / "two"
    where.mkdir()
    remote = make_remote(where, {"base/web.yaml": web, "prod/web.yaml": web})

    ambiguous = invoke("lock", "shop:deployment/web", "--repo", remote.url)
    assert ambiguous.exit_code == 2
    assert "base/web.yaml" in ambiguous.stderr
    assert "prod/web.yaml" in ambiguous.stderr
    assert "--file" in ambiguous.stderr

    chosen = invoke("lock", "shop:deployment/web", "--file", "prod/web.yaml", "--repo", remote.url)
    assert chosen.exit_code == 0, chosen.output
    assert changed_files(remote) == ["prod/web.yaml"]


def test_a_malformed_workload_is_a_usage_error(fleet: Remote):
    result = invoke("automate", "podinfo", "--repo", fleet.url)
    assert result.exit_code == 2
    assert "namespace:kind/name" in result.stderr


# --- dry runs, JSON, local checkouts -----------------------------------------------------------


def test_dry_run_prints_the_diff_and_commits_nothing(fleet: Remote):
    tip = fleet.tip()
    result = invoke("automate", "demo:helmrelease/mongodb", "--dry-run", "--repo", fleet.url)

    assert result.exit_code == 0, result.output
    assert fleet.tip() == tip
    assert '-    fluxcd.io/automated: "false"\n+    fluxcd.io/automated: "true"\n' in result.stdout
    assert "Dry run: nothing committed." in result.stdout


def test_json_output_names_the_change_and_the_commit(fleet: Remote):
    result = invoke("unlock", "helmrelease/redis", "--output", "json", "--repo", fleet.url)

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["workload"] == "demo:helmrelease/redis"
    assert data["file"] == "releases/redis.yaml"
    assert data["commit"] == fleet.tip()
    assert (data["target"], data["pushed"], data["dry_run"]) == ("main", True, False)
    assert data["changes"][0] == {"key": "fluxcd.io/locked", "old": "true", "new": None}


def _checkout(remote: Remote) -> Path:
    where = remote.path.parent / "checkout"
    if not where.exists():
        git(remote.path.parent, "clone", "-q", remote.url, str(where))
    else:
        git(where, "pull", "-q", "--ff-only")
    return where


def test_a_local_checkout_is_committed_in_place_and_pushed(fleet: Remote):
    checkout = _checkout(fleet)
    result = invoke("lock", "demo:deployment/podinfo", "--repo", str(checkout))

    assert result.exit_code == 0, result.output
    assert git(checkout, "rev-parse", "HEAD") == fleet.tip()
    assert (checkout / PODINFO).read_bytes() == fleet.read(PODINFO)
    assert git(checkout, "status", "--porcelain") == ""


def test_uncommitted_edits_in_the_file_are_never_committed(fleet: Remote):
    checkout = _checkout(fleet)
    (checkout / PODINFO).write_bytes(original(PODINFO) + b"# mine\n")
    tip = fleet.tip()

    result = invoke("lock", "demo:deployment/podinfo", "--repo", str(checkout))

    assert result.exit_code == 1
    assert "uncommitted changes" in result.stderr
    assert fleet.tip() == tip
    assert (checkout / PODINFO).read_bytes().endswith(b"# mine\n")


# --- configured repositories: their own branch ---------------------------------------------------


def _config(tmp_path: Path, remote: Remote, extra: str) -> str:
    path = tmp_path / "imagebot.yaml"
    path.write_text(f"repositories:\n  - url: {remote.url}\n" + textwrap.indent(extra, "    "))
    return str(path)


def test_branch_mode_pushes_a_branch_of_its_own(fleet: Remote, tmp_path: Path):
    config = _config(tmp_path, fleet, "write_mode: branch\n")
    main = fleet.tip()

    result = invoke("lock", "demo:deployment/podinfo", "--config", config)

    assert result.exit_code == 0, result.output
    assert fleet.tip() == main
    branch = "imagebot/main-lock-demo-deployment-podinfo"
    assert b'fluxcd.io/locked: "true"' in fleet.read(PODINFO, branch)
    assert f"pushed to {branch}" in result.stdout


def test_pull_request_mode_opens_a_pull_request(fleet: Remote, tmp_path: Path):
    api = "https://api.github.test"
    config = _config(
        tmp_path,
        fleet,
        "write_mode: pull-request\npull_request:\n  provider: github\n"
        f"  api_url: {api}\n  project: octo/fleet\n  token: gh-token\n",
    )
    created: list[dict] = []

    def create(request: httpx.Request) -> httpx.Response:
        created.append(json.loads(request.content))
        return httpx.Response(
            201,
            json={
                "number": 7,
                "html_url": "https://github.test/octo/fleet/pull/7",
                "title": created[-1]["title"],
                "body": created[-1]["body"],
                "head": {"ref": created[-1]["head"]},
                "base": {"ref": created[-1]["base"]},
                "state": "open",
                "labels": [],
            },
        )

    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{api}/repos/octo/fleet/pulls").mock(return_value=httpx.Response(200, json=[]))
        mock.post(f"{api}/repos/octo/fleet/pulls").mock(side_effect=create)
        result = invoke("unlock", "demo:helmrelease/redis", "--config", config)

    assert result.exit_code == 0, result.output
    assert "Pull request: https://github.test/octo/fleet/pull/7" in result.stdout
    assert created[0]["title"] == "Unlocked: demo:helmrelease/redis"
    assert created[0]["head"] == "imagebot/main-unlock-demo-helmrelease-redis"
    assert created[0]["base"] == "main"


def test_a_branch_that_moves_meanwhile_is_read_again_not_rebased_over(
    fleet: Remote, tmp_path: Path
):
    writer = Writer(fleet, tmp_path / "human")
    seen: list[bytes] = []

    def action(chosen: manual.Target, content: bytes) -> manual.Edited:
        seen.append(content)
        if len(seen) == 1:  # someone pushes to the same file between our read and our push
            moved = content.replace(b"tag: 3.1.1-debian-9-r0", b"tag: 3.1.1-debian-9-r1")
            writer.commit_and_push("releases/ghost.yaml", moved)
        edits = set_policy(chosen.annotations, "automated", "true")
        return manual.edit_annotations(chosen, content, edits, lambda sites: None, unchanged="-")

    manual.run(
        action_name="automate",
        subject="Automated: {workload}",
        workload="demo:helmrelease/ghost",
        action=action,
        config_path=None,
        target=fleet.url,
        branch=None,
        file=None,
        dry_run=False,
        user=None,
        output="text",
    )

    assert len(seen) == 2
    assert fleet.read("releases/ghost.yaml") == original("releases/ghost.yaml").replace(
        b"tag: 3.1.1-debian-9-r0", b"tag: 3.1.1-debian-9-r1"
    ).replace(b'fluxcd.io/automated: "false"', b'fluxcd.io/automated: "true"')
    assert fleet.subjects()[:2] == ["Automated: demo:helmrelease/ghost", "human change"]
