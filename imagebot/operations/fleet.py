"""The fleet at a glance: one row per container of every configured repository.

A row says what the container runs, what its policy would pick, how far behind it is and
why it does (or does not) move: the Deploy view's Workloads table and ``/api/v1/workloads``.
Rows are computed from a cycle's resolutions (:func:`rows_from`) and kept in the state store
(:func:`save`, table ``fleet_status``), so a page of 5,000 rows is one indexed query
(:func:`query`) and never a registry request. The service saves them after every cycle;
:func:`refresh` computes them on demand (no service, or a repository never cycled yet).

Status (``status`` / ``held_by``):

=================  ==============================================================
up-to-date         runs what its policy picks
update             a newer tag qualifies and the bot will write it
held               a newer tag qualifies but is held back: ``held_by`` locked,
                   approval (awaiting a person), family (newer tags of another
                   family only), not-automated, gates (a supply-chain gate holds
                   the policy's pick; ``reason`` says which and until when)
no-match           nothing qualifies under the policy
not-automated      not automated and no tag policy: nothing to compare with
ignored            ``ignore`` annotation
error              a registry, policy or manifest problem (``error``)
=================  ==============================================================
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from imagebot.tag import natural_key

if TYPE_CHECKING:
    from imagebot.config import Config, RepositoryConfig
    from imagebot.store import Store
    from imagebot.update import Resolution, Runner

STATUSES = ("up-to-date", "update", "held", "no-match", "not-automated", "ignored", "error")
#: Columns the table sorts by (name -> SQL expression).
SORTS = {
    "workload": "workload",
    "container": "container",
    "image": "image",
    "current": "current",
    "latest": "latest",
    "behind": "behind",
    "status": "status",
    "repository": "repository",
}


@dataclass(frozen=True)
class FleetRow:
    """One container of one workload, as the Workloads table shows it."""

    repository: str
    workload: str
    namespace: str | None
    kind: str
    name: str
    container: str
    file: str
    line: int
    image: str
    image_repository: str | None
    current: str | None
    latest: str | None
    behind: int
    status: str
    held_by: str | None
    reason: str
    policy: str | None
    source: str
    automated: bool
    locked: bool
    lock_message: str | None = None
    lock_user: str | None = None
    approve: bool = False
    current_created: datetime | None = None
    latest_created: datetime | None = None
    error: str | None = None
    updated_at: datetime | None = None
    newer: list[str] = field(default_factory=list)
    #: Since when a newer tag has been waiting (held or failing): kept from save to save, so
    #: a forgotten lock shows how old it is.
    behind_since: datetime | None = None
    #: Since when the workload's oldest change on the branch waits for a reconciler, once
    #: past ``divergence_after`` (as of the last refresh): Git ahead of the cluster.
    diverged_since: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in _TIMES:
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FleetRow:
        values = dict(data)
        for key in _TIMES:
            if values.get(key):
                values[key] = datetime.fromisoformat(values[key])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


_TIMES = ("current_created", "latest_created", "updated_at", "behind_since", "diverged_since")


def _created(store: Store | None, repository: str | None, tag: str | None) -> datetime | None:
    """A tag's build time if the store already knows it (no request)."""
    if store is None or repository is None or tag is None:
        return None
    digest = store.get_tag_digest(repository, tag, max_age=float("inf"))
    record = store.get_image(digest) if digest else None
    return record.created if record is not None else None


def row_for(repository: str, res: Resolution, store: Store | None = None) -> FleetRow:
    """The row of one resolved site. Resolve with ``manual=True`` (as :func:`refresh`
    does), so locked and manual containers still say what their policy would pick."""
    site, decision = res.site, res.decision
    current = site.tag
    latest = res.new_tag if res.status == "update" else res.available
    newer: list[str] = []
    if decision is not None and latest is not None and latest != current:
        newer = [
            v.tag
            for v in decision.verdicts
            if v.kept and v.category in ("selected", "older") and v.tag != current
        ]
    held_by = None
    status: str = res.status
    if res.status == "update" and site.approve and site.automated and not site.locked:
        status, held_by = "held", "approval"
    elif res.status in ("awaiting-approval", "locked", "not-automated"):
        status = "held" if newer else "up-to-date"
        if newer:
            held_by = {
                "awaiting-approval": "approval",
                "locked": "locked",
                "not-automated": "not-automated",
            }[res.status]
    if status == "up-to-date" and res.held is not None:
        # The policy's pick waits at a supply-chain gate (too young, unsigned, a platform).
        status, held_by = "held", "gates"
    if status == "up-to-date" and decision is not None and current is not None:
        key = natural_key(current)
        other = [v.tag for v in decision.verdicts if v.category == "family"]
        if any(natural_key(t) > key for t in other):
            status, held_by = "held", "family"
    if res.status == "not-automated" and decision is None:
        status = "not-automated"  # no policy: nothing to compare with
    repo_name = site.repository
    return FleetRow(
        repository=repository,
        workload=site.workload,
        namespace=site.namespace,
        kind=site.kind,
        name=site.name,
        container=site.container,
        file=site.file,
        line=site.line,
        image=site.reference_text,
        image_repository=repo_name,
        current=current,
        latest=latest,
        behind=len(newer),
        status=status,
        held_by=held_by,
        reason=res.reason,
        policy=res.policy or site.policy,
        source=site.source,
        automated=site.automated,
        locked=site.locked,
        lock_message=site.lock_message,
        lock_user=site.lock_user,
        approve=site.approve,
        current_created=_created(store, repo_name, current),
        latest_created=_created(store, repo_name, latest) if latest != current else None,
        error=res.problem.message if res.problem else (site.error or None),
        updated_at=datetime.now(UTC),
        newer=newer[:20],
    )


def rows_from(
    repository: str, resolutions: Iterable[Resolution], store: Store | None = None
) -> list[FleetRow]:
    return [row_for(repository, res, store) for res in resolutions]


def save(store: Store, repository: str, rows: Sequence[FleetRow]) -> None:
    """Replace *repository*'s rows (one transaction: readers see the old or the new set)."""
    _replace(store, "repository = ?", (repository,), rows)


def save_workload(store: Store, repository: str, workload: str, rows: Sequence[FleetRow]) -> None:
    """Replace one workload's rows (after a manual change)."""
    _replace(store, "repository = ? AND workload = ?", (repository, workload), rows)


def _behind(row: FleetRow) -> bool:
    return row.behind > 0 and row.status in ("held", "update", "error")


def _replace(store: Store, where: str, params: tuple[str, ...], rows: Sequence[FleetRow]) -> None:
    now = time.time()
    with store.transaction() as db:
        before: dict[tuple[str, str, str, str], datetime] = {}
        for (data,) in db.execute(f"SELECT data FROM fleet_status WHERE {where}", params):
            old = FleetRow.from_dict(json.loads(data))
            if old.behind_since is not None and _behind(old):
                key = (old.repository, old.workload, old.container, old.file)
                before[key] = old.behind_since
        rows = [
            replace(
                row,
                behind_since=before.get(
                    (row.repository, row.workload, row.container, row.file),
                    datetime.fromtimestamp(now, UTC),
                ),
            )
            if _behind(row) and row.behind_since is None
            else row
            for row in rows
        ]
        db.execute(f"DELETE FROM fleet_status WHERE {where}", params)
        db.executemany(
            "INSERT OR REPLACE INTO fleet_status (repository, workload, container, file, "
            "namespace, image, current, latest, behind, status, data, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.repository,
                    r.workload,
                    r.container,
                    r.file,
                    r.namespace or "",
                    r.image,
                    r.current,
                    r.latest,
                    r.behind,
                    r.status,
                    json.dumps(r.to_dict()),
                    now,
                )
                for r in rows
            ],
        )


@dataclass(frozen=True)
class Page:
    """One page of rows, with what the filters can offer."""

    rows: list[FleetRow]
    total: int
    page: int
    per_page: int
    repositories: list[str]
    namespaces: list[str]
    counts: dict[str, int]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [r.to_dict() for r in self.rows],
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
            "pages": self.pages,
            "repositories": self.repositories,
            "namespaces": self.namespaces,
            "counts": self.counts,
        }


def query(
    store: Store,
    *,
    search: str | None = None,
    repository: str | None = None,
    namespace: str | None = None,
    status: str | None = None,
    workload: str | None = None,
    sort: str = "workload",
    descending: bool = False,
    page: int = 1,
    per_page: int = 100,
) -> Page:
    """A filtered, sorted page (1-based) of the saved rows. *search* matches workload,
    container and image (case-insensitive substring)."""
    where, params = [], []
    if search:
        where.append(
            "(workload LIKE ? ESCAPE '\\' OR container LIKE ? ESCAPE '\\' "
            "OR image LIKE ? ESCAPE '\\')"
        )
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pattern] * 3
    for column, value in (
        ("repository", repository),
        ("namespace", namespace),
        ("status", status),
        ("workload", workload),
    ):
        if value is not None and value != "":
            where.append(f"{column} = ?")
            params.append(value if value != "-" else "")
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    order = SORTS.get(sort, "workload")
    direction = "DESC" if descending else "ASC"
    page = max(1, page)
    total = store.query(f"SELECT COUNT(*) FROM fleet_status{clause}", params)[0][0]
    found = store.query(
        f"SELECT data FROM fleet_status{clause} ORDER BY {order} {direction}, workload, "
        "container, repository LIMIT ? OFFSET ?",
        [*params, per_page, (page - 1) * per_page],
    )
    repositories = [
        r[0] for r in store.query("SELECT DISTINCT repository FROM fleet_status ORDER BY 1")
    ]
    namespaces = [
        r[0] for r in store.query("SELECT DISTINCT namespace FROM fleet_status ORDER BY 1")
    ]
    counts = {
        row[0]: row[1]
        for row in store.query("SELECT status, COUNT(*) FROM fleet_status GROUP BY status")
    }
    return Page(
        [FleetRow.from_dict(json.loads(r[0])) for r in found],
        total,
        page,
        per_page,
        repositories,
        namespaces,
        counts,
    )


#: At most this many build times are read per refresh (the rest wait for the next one).
BUILD_TIMES_PER_REFRESH = 200


async def _read_build_times(
    runner: Runner, resolutions: Sequence[Resolution], store: Store
) -> None:
    """Build times of each row's current and latest tag that the store does not know yet
    (a manifest and a config read each, cached by digest): the table's ages."""
    import asyncio

    from imagebot.errors import RegistryError

    wanted: dict[tuple[str, str], Any] = {}
    for res in resolutions:
        image = res.site.image
        if image is None or res.status == "error":
            continue
        latest = res.new_tag if res.status == "update" else res.available
        for tag in (res.site.tag, latest):
            if tag and _created(store, image.repository, tag) is None:
                wanted.setdefault((image.repository, tag), image)
    pairs = list(wanted.items())[:BUILD_TIMES_PER_REFRESH]
    limit = asyncio.Semaphore(4)

    async def one(image: Any, tag: str) -> None:
        async with limit:
            with contextlib.suppress(RegistryError):
                await runner.client.image_info(image, tag, fresh=False)

    await asyncio.gather(*(one(image, tag) for (_, tag), image in pairs))


def refresh(config: Config, repo: RepositoryConfig, runner: Runner, store: Store) -> list[FleetRow]:
    """Read *repo* (its local path, or the bot's synced clone) and resolve it as a cycle
    would (tag cache honoured; locked and manual sites too), then save and return its rows."""
    from imagebot.gitops import Workspace
    from imagebot.operations.workloads import read_checkout
    from imagebot.update import resolve

    with Workspace.open(repo, config.resolved_state_dir()) as ws:
        if ws.kind == "clone":
            ws.sync()
        found = read_checkout(ws.root, repo)
    resolved = runner.run(resolve(found.sites, runner.scanner, manual=True, explain=True))
    runner.run(_read_build_times(runner, resolved.resolutions, store))
    rows = rows_from(repo.display_name, resolved.resolutions, store)
    rows = with_divergence(config, store, rows)
    save(store, repo.display_name, rows)
    return rows


def with_divergence(config: Config, store: Store, rows: Iterable[FleetRow]) -> list[FleetRow]:
    """*rows* with ``diverged_since`` as of now (set on the workloads diverged, cleared on
    the others), when a reconciler receiver is configured; else *rows* as they are."""
    from imagebot.update.reconcile import divergence

    rows = list(rows)
    if not any(hook.type in ("flux", "argocd") for hook in config.service.webhooks.values()):
        return rows
    repos = {repo.display_name: repo for repo in config.repositories}
    diverged: dict[str, dict[str, float]] = {}
    for name in {row.repository for row in rows} & set(repos):
        after = float(repos[name].divergence_after)
        diverged[name] = divergence(store, name, after).diverged
    out = []
    for row in rows:
        since = diverged.get(row.repository, {}).get(row.workload)
        moment = datetime.fromtimestamp(since, UTC) if since is not None else None
        out.append(row if row.diverged_since == moment else replace(row, diverged_since=moment))
    return out
