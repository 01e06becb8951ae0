"""The Deploy view in a real headless Chromium (Debian's chromium + chromium-driver) against a
seeded fleet: real registry, real Git remote, the app served by uvicorn. One browser per
module; each test saves a screenshot of its page in the run's output folder
(``$IMAGEBOT_TEST_OUTPUT``, default ``test-output/``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from imagebot.web import create_app
from tests.gitops.helpers import git, use_isolated_git
from tests.harness import RegistryServer
from tests.harness.browser import Browser
from tests.web.support import TOKEN, USER, LiveServer, Seeded, seed

pytestmark = pytest.mark.slow

OUTPUT = Path(os.environ.get("IMAGEBOT_TEST_OUTPUT", Path(__file__).parents[2] / "test-output"))
WEB = "apps:deployment/web"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = Browser()
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer()
    yield live
    live.close()


@pytest.fixture
def fleet(
    tmp_path: Path,
    registry: RegistryServer,
    repo_name: str,
    monkeypatch: pytest.MonkeyPatch,
    server: LiveServer,
    browser: Browser,
) -> Iterator[Seeded]:
    use_isolated_git(monkeypatch, tmp_path / "home")
    monkeypatch.delenv("IMAGEBOT_CONFIG", raising=False)
    seeded = seed(tmp_path, registry, repo_name)
    server.app = create_app(seeded.config, seeded.store)
    browser.get(server.url + "/login")
    browser.forget_cookies()
    yield seeded
    seeded.close()


def shot(browser: Browser, request: pytest.FixtureRequest, name: str = "") -> Path:
    stem = request.node.name + (f"-{name}" if name else "")
    return browser.screenshot(OUTPUT / "browser" / f"{stem}.png")


def sign_in(browser: Browser, server: LiveServer) -> None:
    browser.get(server.url + "/login")
    browser.find('input[name="token"]').type(TOKEN)
    browser.find("#login button[type=submit]").click()
    wait(lambda: browser.find_all("#user"))


def wait(condition: Callable[[], object], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting in the browser")
        time.sleep(0.05)


def row_states(browser: Browser) -> dict[str, tuple[str | None, str | None]]:
    return {
        str(row.attribute("data-workload")): (
            row.attribute("data-status"),
            row.attribute("data-locked"),
        )
        for row in browser.find_all("#workloads tbody tr[data-workload]")
    }


def test_the_table_shows_the_right_status_per_row(
    fleet: Seeded, browser: Browser, server: LiveServer, request: pytest.FixtureRequest
):
    sign_in(browser, server)
    browser.get(server.url + "/")
    shot(browser, request)

    assert row_states(browser) == {
        "apps:deployment/api": ("held", "true"),
        "apps:deployment/db": ("up-to-date", "false"),
        "apps:deployment/web": ("update", "false"),
        "apps:deployment/worker": ("held", "false"),
    }
    web = browser.find('#workloads tr[data-workload="apps:deployment/web"]')
    assert "update available" in web.text
    assert "1.0.2" in web.text


def test_lock_from_the_browser_commits_and_the_row_turns_locked(
    fleet: Seeded, browser: Browser, server: LiveServer, request: pytest.FixtureRequest
):
    sign_in(browser, server)
    browser.get(f"{server.url}/workload?repository=fleet&workload={WEB}")
    shot(browser, request, "workload")
    browser.find('#action-lock input[name="message"]').type("freeze for the demo")
    browser.find("#action-lock button[type=submit]").click()
    wait(lambda: browser.find_all("#confirm"))
    plan = browser.find("main").text
    shot(browser, request, "plan")
    tip = fleet.remote.tip()

    assert 'imagebot.io/locked: "true"' in plan
    assert "Locked: apps:deployment/web" in plan
    browser.find("#confirm").click()
    wait(lambda: browser.find_all("#commit"))
    shot(browser, request, "done")

    assert fleet.remote.tip() != tip
    assert git(fleet.remote.path, "log", "-1", "--format=%s|%an", "main") == (
        f"Locked: {WEB}|{USER}"
    )
    assert b"imagebot.io/locked_msg: freeze for the demo" in fleet.remote.read("apps/web.yaml")
    browser.get(server.url + "/")
    assert row_states(browser)[WEB] == ("held", "true")
    shot(browser, request)


def test_release_with_plan_yields_the_commit(
    fleet: Seeded, browser: Browser, server: LiveServer, request: pytest.FixtureRequest
):
    sign_in(browser, server)
    browser.get(f"{server.url}/workload?repository=fleet&workload={WEB}")
    browser.find('#action-release input[name="tag"]').type("1.0.1")
    browser.find("#action-release button[type=submit]").click()
    wait(lambda: browser.find_all("#confirm"))
    shot(browser, request, "plan")
    plan = browser.find("main").text

    lines = plan.splitlines()
    assert any(
        line.startswith("-") and f"image: {fleet.images['web']}:1.0.0" in line for line in lines
    )
    assert any(
        line.startswith("+") and f"image: {fleet.images['web']}:1.0.1" in line for line in lines
    )
    browser.find("#confirm").click()
    wait(lambda: browser.find_all("#commit"))
    shot(browser, request, "done")

    assert f"image: {fleet.images['web']}:1.0.1".encode() in fleet.remote.read("apps/web.yaml")
    assert git(fleet.remote.path, "log", "-1", "--format=%s", "main") == (
        f"Release {fleet.images['web']}:1.0.1 to {WEB}"
    )


def test_the_approval_flow(
    fleet: Seeded, browser: Browser, server: LiveServer, request: pytest.FixtureRequest
):
    sign_in(browser, server)
    browser.get(server.url + "/approvals")
    shot(browser, request, "pending")
    rows = browser.find_all("#approvals tbody tr[data-workload]")
    assert [r.attribute("data-workload") for r in rows] == ["apps:deployment/worker"]

    browser.find('#approvals input[name="row"]').click()
    browser.find("#approve-selected").click()
    wait(lambda: browser.find_all("#confirm"))
    shot(browser, request, "plan")
    browser.find("#confirm").click()
    wait(lambda: browser.find_all("#commit"))

    assert f"{fleet.images['worker']}:3.0.1".encode() in fleet.remote.read("apps/worker.yaml")
    assert git(fleet.remote.path, "log", "-1", "--format=%an", "main") == USER
    browser.get(server.url + "/approvals")
    assert not browser.find_all("#approvals tbody tr[data-workload]")
    browser.get(server.url + "/history")
    shot(browser, request, "history")
    assert "approved update" in browser.find("#events").text


def test_an_anonymous_visitor_sees_no_action_and_a_forged_post_gets_403(
    fleet: Seeded, browser: Browser, server: LiveServer, request: pytest.FixtureRequest
):
    anonymous = replace(fleet.config, web=replace(fleet.config.web, anonymous_read=True))
    server.app = create_app(anonymous, fleet.store)
    tip = fleet.remote.tip()
    browser.get(server.url + "/")
    shot(browser, request, "workloads")

    assert len(row_states(browser)) == 4
    assert not browser.find_all("form[action='/actions/plan']")
    assert not browser.find_all("button[name='only']")
    browser.get(f"{server.url}/workload?repository=fleet&workload={WEB}")
    assert not browser.find_all("#actions")

    for csrf in (None, "forged-token"):
        browser.script(
            """
            const form = document.createElement('form');
            form.method = 'post'; form.action = '/actions/apply';
            const fields = {repository: 'fleet', workload: arguments[0], action: 'lock'};
            if (arguments[1] !== null) fields.csrf = arguments[1];
            for (const [name, value] of Object.entries(fields)) {
              const input = document.createElement('input');
              input.type = 'hidden'; input.name = name; input.value = value;
              form.appendChild(input);
            }
            document.body.appendChild(form); form.submit();
            """,
            WEB,
            csrf,
        )
        wait(lambda: "Refused" in browser.find("h1").text)
        assert "CSRF" in browser.find("main").text
    shot(browser, request, "refused")

    assert fleet.remote.tip() == tip
