"""Pull-request mode: one PR per bot branch, updated on later runs, closed when unwanted.

The GitHub REST API is faked with respx from its documented shapes (list pulls by head and
base, create, update, labels, reviewers, comment, close); Git and the registry are real.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from imagebot.config import PullRequestConfig
from tests.gitops.helpers import Writer
from tests.update.helpers import Bot, automated, deployment

API = "https://api.github.test"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class FakeGitHub:
    """Just enough of api.github.com's pulls API, with state."""

    def __init__(self, mock: respx.MockRouter) -> None:
        self.pulls: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.comments: list[str] = []
        repo = f"{API}/repos/octo/fleet"
        mock.route(host="127.0.0.1").pass_through()
        mock.get(f"{repo}/pulls").mock(side_effect=self.list)
        mock.post(f"{repo}/pulls").mock(side_effect=self.create)
        mock.patch(url__regex=rf"{repo}/pulls/(?P<n>\d+)$").mock(side_effect=self.edit)
        mock.post(url__regex=rf"{repo}/issues/(?P<n>\d+)/labels$").mock(side_effect=self.label)
        mock.post(url__regex=rf"{repo}/issues/(?P<n>\d+)/comments$").mock(side_effect=self.comment)
        mock.post(url__regex=rf"{repo}/pulls/(?P<n>\d+)/requested_reviewers$").mock(
            side_effect=self.reviewers
        )

    def _log(self, request: httpx.Request) -> None:
        self.calls.append((request.method, request.url.path))
        assert request.headers["authorization"] in ("Bearer gh-token", "token gh-token")

    def list(self, request: httpx.Request) -> httpx.Response:
        self._log(request)
        head = request.url.params.get("head", "")
        state = request.url.params.get("state", "open")
        found = [
            pr
            for pr in self.pulls.values()
            if f"octo:{pr['head']['ref']}" == head and (state == "all" or pr["state"] == state)
        ]
        return httpx.Response(200, json=found)

    def create(self, request: httpx.Request) -> httpx.Response:
        self._log(request)
        data = json.loads(request.content)
        number = len(self.pulls) + 1
        self.pulls[number] = {
            "number": number,
            "html_url": f"https://github.test/octo/fleet/pull/{number}",
            "state": "open",
            "title": data["title"],
            "body": data["body"],
            "labels": [],
            "head": {"ref": data["head"], "label": f"octo:{data['head']}"},
            "base": {"ref": data["base"]},
            "merged_at": None,
        }
        return httpx.Response(201, json=self.pulls[number])

    def edit(self, request: httpx.Request, n: str) -> httpx.Response:
        self._log(request)
        pr = self.pulls[int(n)]
        pr.update(json.loads(request.content))
        return httpx.Response(200, json=pr)

    def label(self, request: httpx.Request, n: str) -> httpx.Response:
        self._log(request)
        pr = self.pulls[int(n)]
        pr["labels"] += [{"name": name} for name in json.loads(request.content)["labels"]]
        return httpx.Response(200, json=pr["labels"])

    def comment(self, request: httpx.Request, n: str) -> httpx.Response:
        self._log(request)
        self.comments.append(json.loads(request.content)["body"])
        return httpx.Response(201, json={"id": 1})

    def reviewers(self, request: httpx.Request, n: str) -> httpx.Response:
        self._log(request)
        self.pulls[int(n)]["requested"] = json.loads(request.content)
        return httpx.Response(201, json=self.pulls[int(n)])


@pytest.fixture
def github():
    with respx.mock(assert_all_called=False) as mock:
        yield FakeGitHub(mock)


PR = PullRequestConfig(
    provider="github",
    api_url=API,
    project="octo/fleet",
    token="gh-token",
    labels=["imagebot"],
    reviewers=["alice"],
)


def test_pull_request_mode_opens_one_pr_updates_it_then_closes_it(
    bot: Bot, repo_name: str, github: FakeGitHub, tmp_path: Path
):
    image = f"{repo_name}/app"
    bot.registry.push(image, ["1.0.0", "1.0.1"], created=T0)
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(image, "1.0.0"), annotations=automated("semver:~1.0"))}
    )
    main = remote.tip()

    first = bot.run(remote, write_mode="pull-request", pull_request=PR)

    assert first.pull_request == "https://github.test/octo/fleet/pull/1"
    assert remote.tip() == main, "the user's branch is never written in PR mode"
    pr = github.pulls[1]
    assert (pr["head"]["ref"], pr["base"]["ref"]) == ("imagebot/main", "main")
    assert "| `a.yaml` | `apps:deployment/a` | `app` |" in pr["body"]
    assert "`1.0.0` | `1.0.1` | `semver:~1.0`" in pr["body"]
    assert [label["name"] for label in pr["labels"]] == ["imagebot"]
    assert pr["requested"]["reviewers"] == ["alice"]

    # A newer tag: the same PR is updated (branch rebuilt, body edited), no second PR.
    bot.registry.push(image, ["1.0.2"], created=T0)
    second = bot.run(remote, write_mode="pull-request", pull_request=PR, fresh=True)

    assert second.pull_request == first.pull_request
    assert len(github.pulls) == 1
    assert "`1.0.2`" in github.pulls[1]["body"]
    assert b":1.0.2" in remote.read("a.yaml", "imagebot/main")

    # A human applies the update on main: the PR's changes are no longer wanted.
    writer = Writer(remote, tmp_path / "human")
    text = (writer.dir / "a.yaml").read_bytes().replace(b":1.0.0", b":1.0.2")
    writer.commit_and_push("a.yaml", text)
    third = bot.run(remote, write_mode="pull-request", pull_request=PR, fresh=True)

    assert third.pull_request is None
    assert github.pulls[1]["state"] == "closed"
    assert github.comments
    assert "no longer needed" in github.comments[0]
    assert remote.tip("imagebot/main") is None
    assert third.exit_code == 0


def test_a_forge_failure_is_reported_after_the_branch_was_pushed(
    bot: Bot, repo_name: str, tmp_path: Path
):
    image = f"{repo_name}/app"
    bot.registry.push(image, ["1.0.0", "1.0.1"], created=T0)
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(image, "1.0.0"), annotations=automated("semver:~1.0"))}
    )
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        mock.route(host="api.github.test").respond(401, json={"message": "Bad credentials"})

        report = bot.run(remote, write_mode="pull-request", pull_request=PR)

    assert report.exit_code == 1
    assert [p.kind for p in report.problems] == ["forge"]
    assert "gh-token" not in report.problems[0].message
    assert remote.tip("imagebot/main") == report.commit
