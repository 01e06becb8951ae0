"""GitHub REST v3, faked with respx from the documented request and response shapes."""

from __future__ import annotations

import httpx
import pytest
import respx

from imagebot.errors import ForgeError
from imagebot.gitops.forge import GitHub
from tests.gitops.forge_fixtures import TOKEN, body, github_pr, no_sleep, run

API = "https://api.github.com"
LIST = {"state": "open", "head": "octo:imagebot/main", "base": "main", "per_page": "100"}


def client() -> GitHub:
    return GitHub(api_url=API, project="octo/app", token=TOKEN, sleep=no_sleep)


def ensure(forge: GitHub, **kwargs: object):
    args = {"head": "imagebot/main", "base": "main", "title": "Update images", "body": "new body"}
    return run(forge.ensure(**{**args, **kwargs}))


@respx.mock(base_url=API, assert_all_called=True)
def test_opens_a_pull_request_when_none_is_open(respx_mock: respx.MockRouter) -> None:
    listing = respx_mock.get("/repos/octo/app/pulls", params=LIST).respond(200, json=[])
    create = respx_mock.post("/repos/octo/app/pulls").respond(
        201, json=github_pr(body="new body", labels=[])
    )
    labels = respx_mock.post("/repos/octo/app/issues/1347/labels").respond(200, json=[])
    reviewers = respx_mock.post("/repos/octo/app/pulls/1347/requested_reviewers").respond(
        201, json=github_pr()
    )
    result = ensure(client(), labels=["dependencies"], reviewers=["alice", "@octo/platform"])
    assert result.action == "created"
    assert result.pull_request.url == "https://github.com/octo/app/pull/1347"
    assert result.warnings == []
    request = listing.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert body(create.calls.last.request) == {
        "title": "Update images",
        "head": "imagebot/main",
        "base": "main",
        "body": "new body",
    }
    assert body(labels.calls.last.request) == {"labels": ["dependencies"]}
    assert body(reviewers.calls.last.request) == {
        "reviewers": ["alice"],
        "team_reviewers": ["platform"],
    }


@respx.mock(base_url=API, assert_all_called=True)
def test_updates_the_open_pull_request_instead_of_opening_another(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get("/repos/octo/app/pulls", params=LIST).respond(200, json=[github_pr()])
    edit = respx_mock.patch("/repos/octo/app/pulls/1347").respond(
        200, json=github_pr(body="new body")
    )
    labels = respx_mock.post("/repos/octo/app/issues/1347/labels").respond(200, json=[])
    result = ensure(client(), labels=["bug", "dependencies"], reviewers=["alice"])
    assert result.action == "updated"
    assert body(edit.calls.last.request) == {"title": "Update images", "body": "new body"}
    assert body(labels.calls.last.request) == {"labels": ["dependencies"]}  # bug was there
    assert len(respx_mock.calls) == 3  # no create, no reviewer request


@respx.mock(base_url=API, assert_all_called=True)
def test_an_up_to_date_pull_request_is_left_alone(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/repos/octo/app/pulls", params=LIST).respond(
        200, json=[github_pr(body="new body\r\n")]
    )
    result = ensure(client(), labels=["bug"])
    assert result.action == "unchanged"
    assert len(respx_mock.calls) == 1


@respx.mock(base_url=API, assert_all_called=True)
def test_a_pull_request_from_another_branch_is_not_reused(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/repos/octo/app/pulls", params=LIST).respond(
        200, json=[github_pr(5, head="feature")]
    )
    respx_mock.post("/repos/octo/app/pulls").respond(201, json=github_pr(6))
    assert ensure(client()).action == "created"


@respx.mock(base_url=API, assert_all_called=True)
def test_closes_the_pull_request_no_longer_wanted(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/repos/octo/app/pulls", params=LIST).respond(200, json=[github_pr()])
    comment = respx_mock.post("/repos/octo/app/issues/1347/comments").respond(201, json={})
    close = respx_mock.patch("/repos/octo/app/pulls/1347").respond(
        200, json=github_pr(state="closed")
    )
    closed = run(client().close_for("imagebot/main", "main", comment="Superseded."))
    assert closed is not None
    assert closed.state == "closed"
    assert body(comment.calls.last.request) == {"body": "Superseded."}
    assert body(close.calls.last.request) == {"state": "closed"}


@respx.mock(base_url=API, assert_all_called=True)
def test_nothing_to_close(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/repos/octo/app/pulls", params=LIST).respond(200, json=[])
    assert run(client().close_for("imagebot/main", "main")) is None


@respx.mock(base_url=API, assert_all_called=True)
def test_a_concurrently_opened_pull_request_is_picked_up(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/repos/octo/app/pulls", params=LIST).mock(
        side_effect=[httpx.Response(200, json=[]), httpx.Response(200, json=[github_pr()])]
    )
    respx_mock.post("/repos/octo/app/pulls").respond(
        422,
        json={
            "message": "Validation Failed",
            "errors": [{"message": "A pull request already exists"}],
        },
    )
    respx_mock.patch("/repos/octo/app/pulls/1347").respond(200, json=github_pr(body="new body"))
    assert ensure(client()).action == "updated"


@respx.mock(base_url=API, assert_all_called=True)
def test_bad_token_is_a_forge_error_that_does_not_show_it(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/repos/octo/app/pulls").respond(
        401, json={"message": f"Bad credentials {TOKEN}", "documentation_url": "x"}
    )
    with pytest.raises(ForgeError) as caught:
        ensure(client())
    assert caught.value.status == 401
    assert "401" in str(caught.value)
    assert "octo/app" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert "token" in (caught.value.hint or "")


@respx.mock(base_url=API, assert_all_called=True)
def test_reads_are_retried_on_server_errors(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/repos/octo/app/pulls").mock(
        side_effect=[httpx.Response(502), httpx.Response(200, json=[github_pr(body="new body")])]
    )
    assert ensure(client()).action == "unchanged"
    assert route.call_count == 2


@respx.mock(base_url=API, assert_all_called=True)
def test_writes_are_not_resent_after_a_server_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/repos/octo/app/pulls").respond(200, json=[])
    create = respx_mock.post("/repos/octo/app/pulls").respond(502)
    with pytest.raises(ForgeError, match="502"):
        ensure(client())
    assert create.call_count == 1


@respx.mock(base_url=API, assert_all_called=True)
def test_reviewer_failure_is_a_warning_not_a_failure(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/repos/octo/app/pulls").respond(200, json=[])
    respx_mock.post("/repos/octo/app/pulls").respond(201, json=github_pr(body="new body"))
    respx_mock.post("/repos/octo/app/pulls/1347/requested_reviewers").respond(
        422, json={"message": "Reviews may only be requested from collaborators."}
    )
    result = ensure(client(), reviewers=["stranger"])
    assert result.action == "created"
    assert "collaborators" in result.warnings[0]
