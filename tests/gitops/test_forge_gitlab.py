"""GitLab v4 merge requests, faked with respx from the documented shapes."""

from __future__ import annotations

import pytest
import respx

from imagebot.errors import ForgeError
from imagebot.gitops.forge import GitLab
from tests.gitops.forge_fixtures import TOKEN, body, gitlab_mr, no_sleep, run

API = "https://gitlab.example.test/api/v4"
MRS = "/projects/group%2Fsub%2Fapp/merge_requests"
LIST = {"state": "opened", "source_branch": "imagebot/main", "target_branch": "main"}


def client() -> GitLab:
    return GitLab(api_url=API, project="group/sub/app", token=TOKEN, sleep=no_sleep)


def ensure(forge: GitLab, **kwargs: object):
    args = {"head": "imagebot/main", "base": "main", "title": "Update images", "body": "new body"}
    return run(forge.ensure(**{**args, **kwargs}))


@respx.mock(base_url=API, assert_all_called=True)
def test_opens_a_merge_request_with_labels_and_reviewers(respx_mock: respx.MockRouter) -> None:
    listing = respx_mock.get(MRS, params=LIST).respond(200, json=[])
    create = respx_mock.post(MRS).respond(201, json=gitlab_mr(description="new body", labels=[]))
    users = respx_mock.get("/users", params={"username": "alice"}).respond(
        200, json=[{"id": 42, "username": "alice", "name": "Alice"}]
    )
    update = respx_mock.put(f"{MRS}/7").respond(200, json=gitlab_mr())
    result = ensure(client(), labels=["dependencies", "bot"], reviewers=["alice"])
    assert result.action == "created"
    assert result.pull_request.number == 7
    assert listing.calls.last.request.headers["PRIVATE-TOKEN"] == TOKEN
    assert "%2F" in str(listing.calls.last.request.url)
    assert body(create.calls.last.request) == {
        "source_branch": "imagebot/main",
        "target_branch": "main",
        "title": "Update images",
        "description": "new body",
        "remove_source_branch": True,
    }
    assert users.call_count == 1
    assert [body(call.request) for call in update.calls] == [
        {"reviewer_ids": [42]},
        {"add_labels": "dependencies,bot"},
    ]


@respx.mock(base_url=API, assert_all_called=True)
def test_updates_the_open_merge_request(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(MRS, params=LIST).respond(200, json=[gitlab_mr()])
    update = respx_mock.put(f"{MRS}/7").respond(200, json=gitlab_mr(description="new body"))
    result = ensure(client(), labels=["dependencies"], reviewers=["alice"])
    assert result.action == "updated"
    assert body(update.calls.last.request) == {"title": "Update images", "description": "new body"}
    assert len(respx_mock.calls) == 2


@respx.mock(base_url=API, assert_all_called=True)
def test_closes_with_state_event(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(MRS, params=LIST).respond(200, json=[gitlab_mr()])
    note = respx_mock.post(f"{MRS}/7/notes").respond(201, json={"id": 1})
    close = respx_mock.put(f"{MRS}/7").respond(200, json=gitlab_mr(state="closed"))
    closed = run(client().close_for("imagebot/main", "main", comment="No longer needed."))
    assert closed.state == "closed"
    assert body(note.calls.last.request) == {"body": "No longer needed."}
    assert body(close.calls.last.request) == {"state_event": "close"}


@respx.mock(base_url=API, assert_all_called=True)
def test_unknown_reviewer_is_a_warning(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(MRS, params=LIST).respond(200, json=[])
    respx_mock.post(MRS).respond(201, json=gitlab_mr(description="new body"))
    respx_mock.get("/users", params={"username": "ghost"}).respond(200, json=[])
    result = ensure(client(), reviewers=["ghost"])
    assert result.action == "created"
    assert "ghost" in result.warnings[0]


@respx.mock(base_url=API, assert_all_called=True)
def test_forbidden_is_a_forge_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(MRS).respond(403, json={"message": "403 Forbidden"})
    with pytest.raises(ForgeError, match="403") as caught:
        ensure(client())
    assert caught.value.status == 403
