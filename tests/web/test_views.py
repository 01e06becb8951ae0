"""The Deploy view's pages and JSON API over a seeded fleet (real registry, real Git remote,
real store), through Starlette's test client."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from imagebot.config import WebConfig
from imagebot.operations import fleet
from imagebot.operations.fleet import FleetRow
from imagebot.web import create_app
from tests.cli.workload_support import invoke
from tests.gitops.helpers import git
from tests.web.support import TOKEN, USER, Seeded

WEB = "apps:deployment/web"


def client_for(seeded: Seeded, **web: object) -> TestClient:
    config = replace(seeded.config, web=replace(seeded.config.web, **web)) if web else seeded.config
    return TestClient(create_app(config, seeded.store), follow_redirects=False)


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    with client_for(seeded) as client:
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: TestClient, token: str = TOKEN) -> None:
    page = client.get("/login")
    answer = client.post("/login", data={"csrf": csrf_of(page.text), "token": token, "next": "/"})
    assert answer.status_code == 303, answer.text


def rows_by_workload(html: str) -> dict[str, dict[str, str]]:
    rows = {}
    for match in re.finditer(
        r'<tr data-workload="([^"]+)" data-container="([^"]+)" data-status="([^"]+)" '
        r'data-locked="([^"]+)">',
        html,
    ):
        rows[match.group(1)] = {"status": match.group(3), "locked": match.group(4)}
    return rows


def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(client: TestClient):
    answer = client.get("/")

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")
    assert client.get("/api/v1/workloads").status_code == 401


def test_the_table_shows_each_containers_status(client: TestClient):
    sign_in(client)

    html = client.get("/").text

    assert rows_by_workload(html) == {
        "apps:deployment/api": {"status": "held", "locked": "true"},
        "apps:deployment/db": {"status": "up-to-date", "locked": "false"},
        "apps:deployment/web": {"status": "update", "locked": "false"},
        "apps:deployment/worker": {"status": "held", "locked": "false"},
    }
    assert "held: locked" in html
    assert "held: approval" in html


def test_the_api_lists_rows_with_behind_and_latest(client: TestClient):
    answer = client.get("/api/v1/workloads", headers={"Authorization": f"Bearer {TOKEN}"})

    rows = {r["workload"]: r for r in answer.json()["rows"]}
    assert rows[WEB]["current"] == "1.0.0"
    assert rows[WEB]["latest"] == "1.0.2"
    assert rows[WEB]["behind"] == 2
    assert rows["apps:deployment/api"]["lock_message"] == "incident 42"
    assert rows["apps:deployment/worker"]["held_by"] == "approval"


def test_filters_and_search_narrow_the_table(client: TestClient):
    headers = {"Authorization": f"Bearer {TOKEN}"}

    held = client.get("/api/v1/workloads?status=held", headers=headers).json()
    searched = client.get("/api/v1/workloads?q=work", headers=headers).json()

    assert sorted(r["workload"] for r in held["rows"]) == [
        "apps:deployment/api",
        "apps:deployment/worker",
    ]
    assert [r["workload"] for r in searched["rows"]] == ["apps:deployment/worker"]


def test_five_thousand_rows_come_a_page_at_a_time_sorted_on_the_server(seeded: Seeded):
    template = fleet.query(seeded.store, workload=WEB).rows[0]
    rows = [
        replace(template, repository="big", workload=f"apps:deployment/w{i:04d}", behind=i % 7)
        for i in range(5000)
    ]
    fleet.save(seeded.store, "big", rows)
    with client_for(seeded, page_size=100) as client:
        sign_in(client)
        first = client.get("/?repository=big&sort=workload")
        last = client.get(
            "/api/v1/workloads?repository=big&page=50&per_page=100",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).json()

    assert first.text.count('<tr data-workload="') == 100
    assert "page 1 of 50" in first.text
    assert last["total"] == 5000
    assert [r["workload"] for r in last["rows"]][-1] == "apps:deployment/w4999"


def test_an_anonymous_reader_sees_no_action(seeded: Seeded):
    with client_for(seeded, anonymous_read=True) as client:
        table = client.get("/")
        page = client.get("/workload", params={"repository": "fleet", "workload": WEB})

    assert table.status_code == 200
    assert "apps:deployment/web" in table.text
    for html in (table.text, page.text):
        assert "/actions/plan" not in html
        assert "Update selected" not in html


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_writes_nothing(
    client: TestClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
):
    sign_in(client)
    tip = seeded.remote.tip()
    form = {"repository": "fleet", "workload": WEB, "action": "lock", "message": "x"}

    with caplog.at_level(logging.WARNING, logger="imagebot.web"):
        missing = client.post("/actions/plan", data=form)
        wrong = client.post("/actions/apply", data={**form, "csrf": "forged"})

    assert missing.status_code == 403
    assert wrong.status_code == 403
    assert seeded.remote.tip() == tip
    assert "refused POST /actions/apply from alice" in caplog.text


def test_an_action_is_never_taken_by_get(client: TestClient):
    sign_in(client)

    assert client.get("/actions/apply").status_code == 405
    assert client.get("/actions/plan").status_code == 405


def test_a_wrong_token_does_not_sign_in(client: TestClient):
    page = client.get("/login")

    answer = client.post("/login", data={"csrf": csrf_of(page.text), "token": "guess"})

    assert answer.status_code == 403
    assert client.get("/").status_code == 303


def test_the_session_cookie_is_http_only_and_same_site_strict(client: TestClient):
    answer = client.get("/login")

    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_lock_shows_its_plan_then_commits_what_the_cli_commits(
    client: TestClient, seeded: Seeded, tmp_path
):
    sign_in(client)
    page = client.get("/workload", params={"repository": "fleet", "workload": WEB})
    form = {
        "csrf": csrf_of(page.text),
        "repository": "fleet",
        "workload": WEB,
        "action": "lock",
        "message": "hold on",
    }
    tip = seeded.remote.tip()

    shown = client.post("/actions/plan", data=form)

    assert seeded.remote.tip() == tip
    assert '+    imagebot.io/locked: "true"' in _unescape(shown.text)
    assert "Locked: apps:deployment/web" in shown.text
    confirm = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', shown.text))
    items = re.search(r'name="items" value="([^"]*)"', shown.text)
    assert items
    done = client.post("/actions/apply", data={**confirm, "items": _unescape(items.group(1))})

    assert done.status_code == 200, done.text
    assert seeded.remote.tip() != tip
    author = git(seeded.remote.path, "log", "-1", "--format=%an", "main")
    assert author == USER
    assert rows_by_workload(client.get("/").text)[WEB]["locked"] == "true"
    other = tmp_path / "cli"
    cli = invoke("lock", WEB, "-m", "hold on", "--user", USER, "--repo", str(_clone(seeded, other)))
    assert cli.exit_code == 0, cli.output
    assert git(seeded.remote.path, "log", "-1", "--format=%B", "main") == git(
        other, "log", "-1", "--format=%B"
    )


def _clone(seeded: Seeded, where) -> object:
    git(
        where.parent if where.parent.exists() else seeded.root,
        "clone",
        "-q",
        seeded.remote.url,
        str(where),
    )
    git(where, "reset", "-q", "--hard", "HEAD~1")
    return where


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_the_explain_api_has_the_cli_json_shape(client: TestClient):
    answer = client.get(
        "/api/v1/explain",
        params={"repository": "fleet", "workload": WEB},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    data = answer.json()
    assert data["workload"] == WEB
    (container,) = data["containers"]
    assert container["status"] == "update"
    assert container["chosen"] == "1.0.2"
    assert {c["tag"]: c["category"] for c in container["candidates"]}["1.0.2"] == "selected"


def test_the_workload_page_explains_and_names_where_the_policy_is_set(client: TestClient):
    sign_in(client)

    html = client.get("/workload", params={"repository": "fleet", "workload": WEB}).text

    assert "would update to 1.0.2" in html
    assert "annotation:imagebot.io" in html
    assert "apps/web.yaml" in html


def test_an_api_action_needs_a_bearer_token_and_returns_the_cli_json(
    client: TestClient, seeded: Seeded
):
    body = {
        "repository": "fleet",
        "workload": WEB,
        "action": "release",
        "tag": "1.0.1",
        "dry_run": True,
    }
    sign_in(client)

    with_cookie = client.post("/api/v1/actions", json=body)
    with_token = client.post(
        "/api/v1/actions", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )

    assert with_cookie.status_code == 401
    data = with_token.json()
    cli_keys = {
        "action",
        "subject",
        "workload",
        "file",
        "repository",
        "branch",
        "dry_run",
        "changed",
        "changes",
        "notes",
        "commit",
        "target",
        "pushed",
        "pull_request",
        "diff",
    }
    assert cli_keys <= set(data)
    assert data["subject"] == f"Release {seeded.images['web']}:1.0.1 to {WEB}"
    assert data["commit"] is None


def test_a_proxy_user_header_counts_only_from_a_trusted_proxy(seeded: Seeded):
    web = {"proxy_user_header": "X-Forwarded-User", "trusted_proxies": ["10.0.0.0/8"]}
    config = replace(seeded.config, web=replace(seeded.config.web, **web))
    headers = {"X-Forwarded-User": "carol"}
    trusted = TestClient(create_app(config, seeded.store), client=("10.1.2.3", 5000))
    other = TestClient(
        create_app(config, seeded.store), client=("192.168.1.9", 5000), follow_redirects=False
    )

    assert '<span id="user">carol</span>' in trusted.get("/", headers=headers).text
    assert other.get("/", headers=headers).status_code == 303


def test_web_config_refuses_a_proxy_header_without_trusted_proxies():
    with pytest.raises(ValueError):
        WebConfig(proxy_user_header="X-Forwarded-User")


def test_approvals_lists_held_updates_and_reject_hides_one(client: TestClient, seeded: Seeded):
    sign_in(client)
    page = client.get("/approvals")
    assert 'data-workload="apps:deployment/worker"' in page.text

    answer = client.post(
        "/approvals/reject",
        data={"csrf": csrf_of(page.text), "row": "fleet|apps:deployment/worker|app"},
    )

    assert answer.status_code == 303
    assert 'data-workload="apps:deployment/worker"' not in client.get("/approvals").text
    history = client.get("/api/v1/history", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert history[0]["kind"] == "reject"
    assert history[0]["user"] == USER


def test_an_approved_update_is_committed_and_recorded(client: TestClient, seeded: Seeded):
    sign_in(client)
    page = client.get("/approvals")
    shown = client.post(
        "/actions/plan",
        data={"csrf": csrf_of(page.text), "row": "fleet|apps:deployment/worker|app"},
    )
    assert ":3.0.1" in shown.text
    items = re.search(r'name="items" value="([^"]*)"', shown.text)
    diffs = re.findall(r'name="diff" value="([^"]*)"', shown.text)
    assert items

    done = client.post(
        "/actions/apply",
        data={"csrf": csrf_of(shown.text), "items": _unescape(items.group(1)), "diff": diffs},
    )

    assert done.status_code == 200, done.text
    assert b":3.0.1" in seeded.remote.read("apps/worker.yaml")
    subject = git(seeded.remote.path, "log", "-1", "--format=%s", "main")
    assert subject.startswith("Update ")
    assert subject.endswith("(approved)")
    history = client.get("/api/v1/history", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert history[0]["kind"] == "approved update"
    assert 'data-workload="apps:deployment/worker"' not in client.get("/approvals").text


def test_the_history_page_filters_by_workload(client: TestClient, seeded: Seeded):
    from imagebot.operations import events

    events.record(
        seeded.store,
        repository="fleet",
        workload=WEB,
        action="lock",
        subject="Locked: apps:deployment/web",
        user="bob",
    )
    events.record(
        seeded.store,
        repository="fleet",
        workload="apps:deployment/db",
        action="unlock",
        subject="Unlocked: apps:deployment/db",
    )
    sign_in(client)

    html = client.get("/history", params={"workload": WEB}).text

    assert "Locked: apps:deployment/web" in html
    assert "Unlocked: apps:deployment/db" not in html


def test_rows_round_trip_through_the_store(seeded: Seeded):
    row = fleet.query(seeded.store, workload=WEB).rows[0]

    assert FleetRow.from_dict(json.loads(json.dumps(row.to_dict()))) == row


def test_the_change_token_moves_when_the_history_does(client: TestClient, seeded: Seeded):
    from imagebot.operations import events

    headers = {"Authorization": f"Bearer {TOKEN}"}
    before = client.get("/api/v1/changed", headers=headers).json()["version"]
    events.record(seeded.store, repository="fleet", workload=WEB, action="lock", subject="x")

    after = client.get("/api/v1/changed", headers=headers).json()["version"]

    assert after != before
