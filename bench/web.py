"""The Deploy view's Workloads page over a fleet of 5,000 containers, against a bare table.

The store holds 5,000 rows (``fleet_status``, as ``imagebot run`` fills it: five repositories
of 1,000 containers, every status, a few namespaces). imagebot's figure is a whole request for
the page through Starlette's test client: access check, session cookie, ``fleet.query`` (the
count, the page of rows, the repository and namespace lists and the status counts of the
filters) and the ``workloads.html`` template with its links, icons and ages. The floor is the
least a server-rendered page of the same rows needs: one ``SELECT`` of that page (same filter,
order and limit), each row's JSON decoded, and a bare Jinja2 ``<table>`` with the same cells.
Both sides must list the same containers in the same order, or the case fails.

CPU seconds, median of ``--rounds``, each imagebot round followed by a floor round, in a child
process of its own (peak RSS). The note gives imagebot's wall time for the page: issue 12 asks
for its first byte "well under a second from a warm store".
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import Row, peak_rss_mb, table

ROWS = 5000
REPOSITORIES = 5
STATUSES = ["up-to-date", "update", "held", "no-match", "not-automated", "error"]
T0 = datetime(2024, 1, 1, tzinfo=UTC)

#: (case, query string, rows per page)
CASES = [
    ("web: workloads page 1", "/", 100),
    (
        "web: workloads filtered, sorted, page 2",
        "/?q=svc-0&status=update&sort=behind&dir=desc&page=2",
        100,
    ),
    ("web: workloads, 1,000 per page", "/?sort=status", 1000),
]

FLOOR_TEMPLATE = """\
<table>
{% for row in rows %}<tr data-workload="{{ row.workload }}">
<td>{{ row.workload }}</td><td>{{ row.container }}</td><td>{{ row.image }}</td>
<td>{{ row.current }}</td><td>{{ row.behind }}</td><td>{{ row.latest }}</td>
<td>{{ "locked" if row.locked }}</td><td>{{ "automated" if row.automated }}</td>
<td>{{ row.status }}</td></tr>
{% endfor %}</table>
"""

_WORKLOAD = re.compile(r'<tr data-workload="([^"]*)"')


def fleet_rows(count: int) -> list[Any]:
    """*count* rows over :data:`REPOSITORIES` repositories, every status and a few namespaces."""
    from imagebot.operations.fleet import FleetRow

    rows = []
    for i in range(count):
        status = STATUSES[i % len(STATUSES)]
        namespace = f"team-{i % 7}"
        name = f"svc-{i:04d}"
        rows.append(
            FleetRow(
                repository=f"fleet-{i % REPOSITORIES}",
                workload=f"{namespace}:deployment/{name}",
                namespace=namespace,
                kind="Deployment",
                name=name,
                container="app",
                file=f"apps/{name}.yaml",
                line=16,
                image=f"registry.example/team/app-{i % 100:02d}:1.{i % 5}.0",
                image_repository=f"registry.example/team/app-{i % 100:02d}",
                current=f"1.{i % 5}.0",
                latest="1.5.0" if status != "no-match" else None,
                behind=5 - i % 5 if status == "update" else 0,
                status=status,
                held_by="locked" if status == "held" else None,
                reason=f"{status} under semver:~1",
                policy="semver:~1",
                source="annotation:imagebot.io",
                automated=status != "not-automated",
                locked=status == "held",
                lock_message="incident 42" if status == "held" else None,
                lock_user="bob" if status == "held" else None,
                current_created=T0 + timedelta(hours=i),
                latest_created=T0 + timedelta(days=30),
                updated_at=T0 + timedelta(days=31),
                newer=["1.5.0"] if status == "update" else [],
            )
        )
    return rows


def _floor_rows(store: Any, url: str, per_page: int) -> list[dict[str, Any]]:
    """The page's rows with one SELECT (what ``fleet.query`` returns as its page)."""
    from urllib.parse import parse_qs, urlsplit

    from imagebot.operations.fleet import SORTS

    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    where, args = [], []
    if params.get("q"):
        where.append("(workload LIKE ? OR container LIKE ? OR image LIKE ?)")
        args += ["%" + params["q"] + "%"] * 3
    if params.get("status"):
        where.append("status = ?")
        args.append(params["status"])
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    order = SORTS[params.get("sort", "workload")]
    direction = "DESC" if params.get("dir") == "desc" else "ASC"
    page = int(params.get("page", 1))
    found = store.query(
        f"SELECT data FROM fleet_status{clause} ORDER BY {order} {direction}, workload, "
        "container, repository LIMIT ? OFFSET ?",
        [*args, per_page, (page - 1) * per_page],
    )
    return [json.loads(r[0]) for r in found]


def measure(rounds: int, count: int) -> list[dict[str, Any]]:
    import jinja2
    from starlette.testclient import TestClient

    from imagebot.config import parse_config
    from imagebot.operations import fleet
    from imagebot.store import Store
    from imagebot.web.app import create_app

    out = []
    with tempfile.TemporaryDirectory(prefix="imagebot-bench-web-") as tmp:
        store = Store.open(Path(tmp) / "imagebot.db")
        try:
            rows = fleet_rows(count)
            for r in range(REPOSITORIES):
                fleet.save(store, f"fleet-{r}", [x for x in rows if x.repository == f"fleet-{r}"])
            bare = jinja2.Environment(autoescape=True).from_string(FLOOR_TEMPLATE)
            for case, url, per_page in CASES:
                config = parse_config(
                    f"state_dir: {tmp}\nweb: {{anonymous_read: true, page_size: {per_page}}}\n"
                )
                client = TestClient(create_app(config, store))
                client.get(url).raise_for_status()  # templates compiled, caches warm

                def ours(client: TestClient = client, url: str = url) -> str:
                    response = client.get(url)
                    response.raise_for_status()
                    return response.text

                def floor(url: str = url, per_page: int = per_page) -> str:
                    return bare.render(rows=_floor_rows(store, url, per_page))

                shown, expected = _WORKLOAD.findall(ours()), _WORKLOAD.findall(floor())
                assert shown, f"{case}: the page lists no row"
                assert shown == expected, f"{case}: the page lists other rows than the floor"
                cpu_ours, cpu_floor, wall = [], [], []
                for _ in range(rounds):
                    started, cpu = time.perf_counter(), time.process_time()
                    ours()
                    wall.append(time.perf_counter() - started)
                    cpu_ours.append(time.process_time() - cpu)
                    cpu = time.process_time()
                    floor()
                    cpu_floor.append(time.process_time() - cpu)
                out.append(
                    {
                        "case": case,
                        "shown": len(shown),
                        "ours": statistics.median(cpu_ours),
                        "floor": statistics.median(cpu_floor),
                        "wall": statistics.median(wall),
                    }
                )
                client.close()
        finally:
            store.close()
    for item in out:
        item["rss"] = peak_rss_mb()
    return out


def rows(argv: list[str]) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench web")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--quick", action="store_true", help="1,000 rows, 2 rounds")
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.rows, args.rounds = 1000, 2
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "bench.web", "--child", str(args.rounds), str(args.rows)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.web child failed:\n{out.stderr[-3000:]}")
    results = json.loads(out.stdout.strip().splitlines()[-1])
    return [
        Row(
            r["case"],
            f"{args.rows:,} rows, {r['shown']:,} shown",
            r["ours"],
            r["floor"],
            None,
            peak_rss_mb=r["rss"],
            unit="CPU s",
            note=f"whole request {r['wall'] * 1000:.0f} ms wall; "
            "floor: one SELECT + bare Jinja2 table",
        )
        for r in results
    ]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        print(json.dumps(measure(int(argv[1]), int(argv[2]))))
        return 0
    print(table(rows(argv)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
