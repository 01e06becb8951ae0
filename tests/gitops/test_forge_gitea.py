"""Gitea/Forgejo v1 pull requests, faked with respx from the documented shapes."""

from __future__ import annotations

import respx

from imagebot.gitops.forge import Gitea
from tests.gitops.forge_fixtures import TOKEN, body, gitea_pr, no_sleep, run

API = "https://gitea.example.test/api/v1"
PULLS = "/repos/org/app/pulls"


def client() -> Gitea:
    return Gitea(api_url=API, project="org/app", token=TOKEN, sleep=no_sleep)


def ensure(forge: Gitea, **kwargs: object):
    args = {"head": "imagebot/main", "base": "main", "title": "Update images", "body": "new body"}
    return run(forge.ensure(**{**args, **kwargs}))


@respx.mock(base_url=API, assert_all_called=True)
def test_opens_a_pull_request_with_label_ids_and_reviewers(respx_mock: respx.MockRouter) -> None:
    listing = respx_mock.get(PULLS, params={"state": "open", "page": "1", "limit": "50"}).respond(
        200, json=[]
    )
    create = respx_mock.post(PULLS).respond(201, json=gitea_pr(body="new body"))
    known = respx_mock.get("/repos/org/app/labels", params={"page": "1", "limit": "50"}).respond(
        200, json=[{"id": 5, "name": "dependencies"}, {"id": 9, "name": "bot"}]
    )
    labels = respx_mock.post("/repos/org/app/issues/3/labels").respond(200, json=[])
    reviewers = respx_mock.post(f"{PULLS}/3/requested_reviewers").respond(201, json=[])
    result = ensure(client(), labels=["bot", "dependencies"], reviewers=["alice", "org/ops"])
    assert result.action == "created"
    assert result.warnings == []
    assert listing.calls.last.request.headers["Authorization"] == f"token {TOKEN}"
    assert body(create.calls.last.request) == {
        "head": "imagebot/main",
        "base": "main",
        "title": "Update images",
        "body": "new body",
    }
    assert known.call_count == 1
    assert body(labels.calls.last.request) == {"labels": [9, 5]}
    assert body(reviewers.calls.last.request) == {"reviewers": ["alice"], "team_reviewers": ["ops"]}


@respx.mock(base_url=API, assert_all_called=True)
def test_finds_the_open_pull_request_on_a_later_page(respx_mock: respx.MockRouter) -> None:
    others = [gitea_pr(100 + i, head=f"feature-{i}") for i in range(50)]
    respx_mock.get(PULLS, params={"page": "1"}).respond(200, json=others)
    respx_mock.get(PULLS, params={"page": "2"}).respond(
        200, json=[gitea_pr(3, head="imagebot/main", repo="someone/fork"), gitea_pr(4)]
    )
    edit = respx_mock.patch(f"{PULLS}/4").respond(200, json=gitea_pr(4, body="new body"))
    result = ensure(client())
    assert result.action == "updated"
    assert result.pull_request.number == 4  # not the fork's branch of the same name
    assert body(edit.calls.last.request) == {"title": "Update images", "body": "new body"}


@respx.mock(base_url=API, assert_all_called=True)
def test_missing_label_is_a_warning_and_the_others_are_set(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(PULLS).respond(200, json=[gitea_pr(body="new body")])
    respx_mock.get("/repos/org/app/labels").respond(200, json=[{"id": 5, "name": "dependencies"}])
    labels = respx_mock.post("/repos/org/app/issues/3/labels").respond(200, json=[])
    result = ensure(client(), labels=["dependencies", "nonexistent"])
    assert result.action == "unchanged"
    assert body(labels.calls.last.request) == {"labels": [5]}
    assert "nonexistent" in result.warnings[0]


@respx.mock(base_url=API, assert_all_called=True)
def test_closes_the_pull_request(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(PULLS).respond(200, json=[gitea_pr()])
    close = respx_mock.patch(f"{PULLS}/3").respond(200, json=gitea_pr(state="closed"))
    closed = run(client().close_for("imagebot/main", "main"))
    assert closed.state == "closed"
    assert body(close.calls.last.request) == {"state": "closed"}
