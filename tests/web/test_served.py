"""``imagebot run`` serves the Deploy view at ``/`` on its one port, next to its own routes,
and refreshes the view's rows after each cycle."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx

from imagebot.cli.cmd_run import _web
from imagebot.operations import fleet
from imagebot.service.wiring import open_service
from tests.web.support import TOKEN, Seeded


def test_the_service_serves_the_view_its_api_and_its_own_routes_on_one_port(seeded: Seeded):
    config = replace(seeded.config, service=replace(seeded.config.service, listen="127.0.0.1:0"))
    with open_service(config, routes=_web) as service:
        service.start()
        try:
            base = service.url.rstrip("/")
            deadline = time.monotonic() + 60
            while httpx.get(base + "/readyz").status_code != 200:
                assert time.monotonic() < deadline, "the service never became ready"
                time.sleep(0.2)
            page = httpx.get(base + "/")
            api = httpx.get(
                base + "/api/v1/workloads", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            health = httpx.get(base + "/healthz")
        finally:
            service.stop()

    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    assert health.status_code == 200
    assert {r["workload"] for r in api.json()["rows"]} == {
        "apps:deployment/api",
        "apps:deployment/db",
        "apps:deployment/web",
        "apps:deployment/worker",
    }


def test_a_cycle_refreshes_the_rows(seeded: Seeded):
    fleet.save(seeded.store, "fleet", [])
    config = replace(seeded.config, service=replace(seeded.config.service, listen="127.0.0.1:0"))
    with open_service(config, routes=_web) as service:
        service.start()
        try:
            deadline = time.monotonic() + 60
            while not fleet.query(seeded.store, repository="fleet").rows:
                assert time.monotonic() < deadline, "no rows after the first cycle"
                time.sleep(0.2)
        finally:
            service.stop()

    rows = {r.workload: r for r in fleet.query(seeded.store, repository="fleet").rows}
    # the service's first cycle updated web (automated, direct) and held the others
    assert rows["apps:deployment/web"].current == "1.0.2"
    assert rows["apps:deployment/worker"].held_by == "approval"
