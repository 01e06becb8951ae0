"""The Deploy view: pages and a JSON API over :mod:`imagebot.operations` and the store.

``create_app(config, store)`` returns a Starlette app, testable alone and mounted at ``/`` by
``imagebot run``. Routes are one list (:func:`routes`); pages that read are plain ``def``
endpoints (Starlette runs them in its thread pool, so Git, SQLite and registry calls never
block the event loop); forms are read by a small ``async`` wrapper that hands over to a plain
function the same way.

Rules every route follows (see :mod:`imagebot.web.auth`): reading needs a user unless
``web.anonymous_read``; acting always needs one, by POST only, with the session's CSRF token
(browsers) or a bearer token (the API); every action shows its plan (diff and commit
message) before it commits, and the commit is the CLI's, authored by the signed-in user.
A refused request changes nothing and is logged with the user or address.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from imagebot.config import Config
from imagebot.errors import ImagebotError
from imagebot.humanize import ago
from imagebot.operations import actions, approvals, events, fleet
from imagebot.operations.change import Outcome, apply, diff_digest, plan
from imagebot.operations.workloads import repository_named, workload_sites
from imagebot.store import Store
from imagebot.update import Runner
from imagebot.web.auth import COOKIE, Access, Session, Visitor

log = logging.getLogger(__name__)

#: Largest form or JSON body accepted (a plan's diffs come back in the confirm form).
MAX_BODY = 512 * 1024


@dataclass
class Web:
    """What the endpoints share: config, store, access rules, a registry runner."""

    config: Config
    store: Store
    access: Access
    runner: Runner | None = None
    own_runner: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    templates: Any = None

    def registry(self) -> Runner:
        with self.lock:
            if self.runner is None:
                self.runner = Runner(self.config, self.store)
                self.runner.start()
                self.own_runner = True
            return self.runner

    def close(self) -> None:
        if self.own_runner and self.runner is not None:
            self.runner.close()
            self.runner = None


# --- requests, sessions and refusals -------------------------------------------------------


@dataclass
class Call:
    """One request as the endpoints see it."""

    request: Request
    web: Web
    session: Session
    new_cookie: bool
    visitor: Visitor

    @property
    def csrf(self) -> str:
        return self.web.access.sessions.csrf(self.session)


def _call(web: Web, request: Request, *, api: bool = False) -> Call:
    sessions = web.access.sessions
    session = sessions.load(request.cookies.get(COOKIE))
    new = session is None
    if session is None:
        session = sessions.new(None)
    address = request.client.host if request.client else "-"
    visitor = web.access.visitor(request.headers, address, None if new else session, api=api)
    return Call(request, web, session, new, visitor)


def _finish(call: Call, response: Response) -> Response:
    if call.new_cookie:
        _set_cookie(call.web, response, call.session)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'",
    )
    return response


def _set_cookie(web: Web, response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        web.access.sessions.dump(session),
        max_age=int(web.access.sessions.lifetime),
        httponly=True,
        samesite="strict",
        secure=web.config.web.secure_cookies,
        path="/",
    )


def refuse(call: Call, status: int, reason: str, *, api: bool = False) -> Response:
    """A refused request: logged with who asked, answered with *status*, nothing changed."""
    request = call.request
    log.warning(
        "web: refused %s %s from %s: %s",
        request.method,
        request.url.path,
        call.visitor.who,
        reason,
        extra={"user": call.visitor.user, "address": call.visitor.address, "status": status},
    )
    if api or request.url.path.startswith("/api/"):
        return _finish(call, JSONResponse({"error": reason}, status_code=status))
    return _finish(call, _page(call, "refused.html", {"reason": reason}, status=status))


async def _form(request: Request) -> dict[str, list[str]] | None:
    """The urlencoded body (None when it is too large or not a form)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        return None
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None


def _one(form: Mapping[str, list[str]], key: str) -> str | None:
    values = form.get(key)
    return values[0] if values else None


def _page(call: Call, name: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    template = call.web.templates.get_template(name)
    html = template.render(
        visitor=call.visitor,
        csrf=call.csrf,
        path=call.request.url.path,
        live=name in ("workloads.html", "history.html", "approvals.html"),
        sign_in=call.web.access.sign_in_possible,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def _reading(handler: Callable[[Call], Response]) -> Callable[[Request], Response]:
    """A plain-``def`` page: checks read access, sets the session cookie."""

    def endpoint(request: Request) -> Response:
        web: Web = request.app.state.web
        call = _call(web, request)
        if not call.visitor.can_read:
            if web.access.sign_in_possible:
                target = "/login?" + urlencode({"next": str(request.url.path)})
                return _finish(call, RedirectResponse(target, status_code=303))
            return refuse(call, 401, "sign-in required")
        return _finish(call, handler(call))

    return endpoint


def _acting(
    handler: Callable[[Call, dict[str, list[str]]], Response], *, needs_user: bool = True
) -> Callable[[Request], Any]:
    """A form POST: checks the body, the CSRF token and (unless *needs_user* is false) that
    someone is signed in, before *handler* runs in the thread pool."""

    async def endpoint(request: Request) -> Response:
        web: Web = request.app.state.web
        call = _call(web, request)
        form = await _form(request)
        if form is None:
            return refuse(call, 400, "expected a form of at most 512 KiB")
        if call.new_cookie or not web.access.sessions.csrf_ok(call.session, _one(form, "csrf")):
            return refuse(call, 403, "missing or wrong CSRF token")
        if needs_user and not call.visitor.can_act:
            return refuse(call, 403, "sign in to act")
        response = await run_in_threadpool(handler, call, form)
        return _finish(call, response)

    return endpoint


# --- pages ---------------------------------------------------------------------------------


def _int(text: str | None, default: int) -> int:
    try:
        return max(1, int(text)) if text else default
    except ValueError:
        return default


def _fleet_page(call: Call, per_page: int) -> fleet.Page:
    """The page of rows the query string asks for (the table's and the API's)."""
    params = call.request.query_params
    sort = params.get("sort", "workload")
    page = fleet.query(
        call.web.store,
        search=params.get("q") or None,
        repository=params.get("repository") or None,
        namespace=params.get("namespace") or None,
        status=params.get("status") or None,
        workload=params.get("workload") or None,
        sort=sort if sort in fleet.SORTS else "workload",
        descending=params.get("dir") == "desc",
        page=_int(params.get("page"), 1),
        per_page=per_page,
    )
    # Divergence grows with time alone: the rows say it as of now, not as of their refresh.
    return replace(page, rows=fleet.with_divergence(call.web.config, call.web.store, page.rows))


def workloads_page(call: Call) -> Response:
    params = call.request.query_params
    sort = params.get("sort", "workload")
    page = _fleet_page(call, call.web.config.web.page_size)
    query = {k: v for k, v in params.items() if k != "page" and v}

    def link(**changes: Any) -> str:
        merged = {**query, **{k: str(v) for k, v in changes.items() if v is not None}}
        return "/?" + urlencode(merged)

    def sort_link(column: str) -> str:
        desc = sort == column and params.get("dir") != "desc"
        return link(sort=column, dir="desc" if desc else "asc", page=1)

    return _page(
        call,
        "workloads.html",
        {
            "page": page,
            "params": params,
            "sort": sort,
            "descending": params.get("dir") == "desc",
            "link": link,
            "sort_link": sort_link,
            "statuses": fleet.STATUSES,
            "ago": _ago,
            "pending": len(approvals.pending(call.web.store)),
        },
    )


def _ago(moment: datetime | None) -> str:
    return ago(moment) if moment is not None else ""


def workload_page(call: Call) -> Response:
    params = call.request.query_params
    repository, workload = params.get("repository", ""), params.get("workload", "")
    rows = fleet.query(call.web.store, repository=repository, workload=workload, per_page=1000).rows
    rows = fleet.with_divergence(call.web.config, call.web.store, rows)
    explained: list[dict[str, Any]] = []
    problem = None
    try:
        repo = repository_named(call.web.config, repository)
        sites = workload_sites(call.web.config, repo, workload)
        from imagebot.operations.explain import explain

        now = datetime.now(UTC)
        explained = [
            e.to_dict(now) for e in explain(call.web.config, sites, runner=call.web.registry())
        ]
    except ImagebotError as exc:
        problem = str(exc)
    timeline = events.timeline(call.web.store, repository=repository, workload=workload)
    return _page(
        call,
        "workload.html",
        {
            "repository": repository,
            "workload": workload,
            "rows": rows,
            "explained": explained,
            "problem": problem,
            "events": timeline,
            "ago": _ago,
            "flash": params.get("done"),
        },
    )


def history_page(call: Call) -> Response:
    params = call.request.query_params
    per_page = call.web.config.web.page_size
    page = _int(params.get("page"), 1)
    found = events.timeline(
        call.web.store,
        repository=params.get("repository") or None,
        workload=params.get("workload") or None,
        limit=per_page + 1,
        offset=(page - 1) * per_page,
    )
    repositories = [r.display_name for r in call.web.config.repositories]
    query = {k: v for k, v in params.items() if k != "page" and v}
    return _page(
        call,
        "history.html",
        {
            "events": found[:per_page],
            "more": len(found) > per_page,
            "page": page,
            "params": params,
            "repositories": repositories,
            "link": lambda p: "/history?" + urlencode({**query, "page": p}),
            "ago": _ago,
        },
    )


def approvals_page(call: Call) -> Response:
    return _page(
        call,
        "approvals.html",
        {
            "rows": approvals.pending(call.web.store),
            "ago": _ago,
            "flash": call.request.query_params.get("done"),
        },
    )


def login_page(request: Request) -> Response:
    web: Web = request.app.state.web
    call = _call(web, request)
    return _finish(call, _page(call, "login.html", {"next": request.query_params.get("next", "/")}))


def _login(call: Call, form: dict[str, list[str]]) -> Response:
    user = call.web.access.users.user_for((_one(form, "token") or "").strip())
    if user is None:
        log.warning("web: failed sign-in from %s", call.visitor.address)
        return _page(call, "login.html", {"next": "/", "error": "unknown token"}, status=403)
    log.info("web: %s signed in from %s", user, call.visitor.address)
    target = _one(form, "next") or "/"
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    response = RedirectResponse(target, status_code=303)
    _set_cookie(call.web, response, call.web.access.sessions.new(user))  # a fresh session id
    return response


def _logout(call: Call, form: dict[str, list[str]]) -> Response:
    response = RedirectResponse("/login", status_code=303)
    _set_cookie(call.web, response, call.web.access.sessions.new(None))
    return response


# --- actions: plan, then apply -------------------------------------------------------------


@dataclass
class Item:
    """One change asked for: an action on a workload of a repository."""

    repository: str
    workload: str
    action: str
    container: str | None = None
    tag: str | None = None
    policy: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Item:
        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value != "" else None

        return cls(
            text("repository") or "",
            text("workload") or "",
            text("action") or "",
            text("container"),
            text("tag"),
            data.get("policy") if isinstance(data.get("policy"), str) else None,
            text("message"),
        )


def _items(form: Mapping[str, list[str]], web: Web) -> list[Item]:
    """The items of an action form: one (fields), several (``row`` = repo|workload|container,
    releasing each row's latest tag: Update selected), or a confirmed plan (``items`` JSON)."""
    if "items" in form:
        return [Item.of(d) for d in json.loads(_one(form, "items") or "[]") if isinstance(d, dict)]
    rows = form.get("only") or form.get("row", [])
    if rows:
        out = []
        for key in rows:
            repository, _, rest = key.partition("|")
            workload, _, container = rest.rpartition("|")
            found = fleet.query(web.store, repository=repository, workload=workload, per_page=1000)
            for row in found.rows:
                if row.container == container and row.latest and row.latest != row.current:
                    action = "approve" if row.held_by == "approval" else "release"
                    out.append(Item(repository, workload, action, container, row.latest))
        return out
    single = {k: v[0] for k, v in form.items() if v}
    return [Item.of(single)]


def _run_item(
    web: Web, item: Item, user: str | None, *, commit: bool, expect: str | None = None
) -> tuple[Outcome | None, str | None]:
    try:
        repo = repository_named(web.config, item.repository)
        action = actions.by_name(
            web.config,
            item.action,
            user=user,
            tag=item.tag,
            container=item.container,
            policy=item.policy,
            message=item.message,
        )
        body = item.message if item.action not in ("release", "rollback") else None
        if not commit:
            return plan(web.config, action, item.workload, repo=repo, user=user, body=body), None
        outcome = apply(
            web.config,
            action,
            item.workload,
            repo=repo,
            user=user,
            body=body,
            author=True,
            expect_diff=expect,
        )
        _after_commit(web, item, outcome, user)
        return outcome, None
    except ImagebotError as exc:
        return None, str(exc)


def _after_commit(web: Web, item: Item, outcome: Outcome, user: str | None) -> None:
    """Record an approval, and read the workload again so its rows show the change."""
    if outcome.commit is None:
        return
    if item.action == "approve":
        for row in fleet.query(
            web.store, repository=item.repository, workload=item.workload, per_page=1000
        ).rows:
            if row.container == item.container:
                approvals.decide(web.store, row, "approved", user=user, commit=outcome.commit)
    try:
        refresh_workload(web, item.repository, item.workload)
    except ImagebotError as exc:
        log.warning("web: could not read %s again: %s", item.workload, exc)


def refresh_workload(web: Web, repository: str, workload: str) -> None:
    """Resolve one workload again (tag cache honoured) and replace its rows."""
    from imagebot.update import resolve

    repo = repository_named(web.config, repository)
    sites = workload_sites(web.config, repo, workload)
    runner = web.registry()
    resolved = runner.run(resolve(sites, runner.scanner, manual=True, explain=True))
    rows = fleet.rows_from(repository, resolved.resolutions, web.store)
    fleet.save_workload(web.store, repository, workload, rows)


@dataclass
class Planned:
    item: Item
    outcome: Outcome | None
    error: str | None


def _plan(call: Call, form: dict[str, list[str]]) -> Response:
    planned = []
    for item in _items(form, call.web):
        outcome, error = _run_item(call.web, item, call.visitor.user, commit=False)
        planned.append(Planned(item, outcome, error))
    ready = [p for p in planned if p.outcome is not None and p.outcome.changed]
    return _page(
        call,
        "plan.html",
        {
            "planned": planned,
            "items_json": json.dumps([p.item.to_dict() for p in ready]),
            "diffs": [diff_digest(p.outcome.diff) for p in ready if p.outcome is not None],
            "back": _one(form, "back") or "/",
        },
    )


def _apply(call: Call, form: dict[str, list[str]]) -> Response:
    items = _items(form, call.web)
    diffs = form.get("diff", [])
    done = []
    for index, item in enumerate(items):
        expect = diffs[index] if index < len(diffs) else None
        outcome, error = _run_item(call.web, item, call.visitor.user, commit=True, expect=expect)
        done.append(Planned(item, outcome, error))
        log.info(
            "web: %s by %s on %s: %s",
            item.action,
            call.visitor.who,
            item.workload,
            outcome.commit if outcome else error,
            extra={"user": call.visitor.user, "workload": item.workload},
        )
    status = 200 if all(d.outcome is not None for d in done) else 409
    return _page(call, "applied.html", {"done": done}, status=status)


def _reject(call: Call, form: dict[str, list[str]]) -> Response:
    rows = {(r.repository, r.workload, r.container): r for r in approvals.pending(call.web.store)}
    for key in form.get("row", []):
        repository, _, rest = key.partition("|")
        workload, _, container = rest.rpartition("|")
        row = rows.get((repository, workload, container))
        if row is not None:
            approvals.decide(call.web.store, row, "rejected", user=call.visitor.user)
            log.info("web: %s rejected %s %s %s", call.visitor.who, workload, container, row.latest)
    return RedirectResponse("/approvals?done=rejected", status_code=303)


# --- JSON API ------------------------------------------------------------------------------


def _api_call(request: Request) -> tuple[Call, Response | None]:
    web: Web = request.app.state.web
    call = _call(web, request, api=True)
    if not call.visitor.can_read:
        return call, refuse(call, 401, "sign-in required", api=True)
    return call, None


def api_workloads(request: Request) -> Response:
    call, refused = _api_call(request)
    if refused is not None:
        return refused
    wanted = _int(request.query_params.get("per_page"), call.web.config.web.page_size)
    return JSONResponse(_fleet_page(call, min(wanted, 1000)).to_dict())


def api_explain(request: Request) -> Response:
    """``imagebot explain --output json``'s shape."""
    call, refused = _api_call(request)
    if refused is not None:
        return refused
    from imagebot.operations.explain import explain

    try:
        repo = repository_named(call.web.config, request.query_params.get("repository", ""))
        sites = workload_sites(call.web.config, repo, request.query_params.get("workload", ""))
        now = datetime.now(UTC)
        found = explain(call.web.config, sites, runner=call.web.registry())
    except ImagebotError as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    return JSONResponse(
        {"workload": sites[0].workload, "containers": [e.to_dict(now) for e in found]}
    )


def api_history(request: Request) -> Response:
    call, refused = _api_call(request)
    if refused is not None:
        return refused
    params = request.query_params
    found = events.timeline(
        call.web.store,
        repository=params.get("repository") or None,
        workload=params.get("workload") or None,
        limit=min(_int(params.get("limit"), 100), 1000),
        offset=_int(params.get("offset"), 1) - 1 if params.get("offset") else 0,
    )
    return JSONResponse([e.to_dict() for e in found])


def api_changed(request: Request) -> Response:
    """A token that changes when the rows or the history do (the pages poll it, then reload:
    live refresh after each cycle without server-side push)."""
    call, refused = _api_call(request)
    if refused is not None:
        return refused
    (row,) = call.web.store.query(
        "SELECT (SELECT COALESCE(MAX(updated_at), 0) FROM fleet_status), "
        "(SELECT COALESCE(MAX(id), 0) FROM history), (SELECT COALESCE(MAX(id), 0) FROM events)"
    )
    return JSONResponse({"version": f"{row[0]}:{row[1]}:{row[2]}"})


def api_approvals(request: Request) -> Response:
    call, refused = _api_call(request)
    if refused is not None:
        return refused
    return JSONResponse([r.to_dict() for r in approvals.pending(call.web.store)])


async def api_action(request: Request) -> Response:
    """POST ``/api/v1/actions``: JSON ``{repository, workload, action, container?, tag?,
    policy?, message?, dry_run?, expect_diff?}`` -> the CLI's ``--output json`` outcome.
    Needs a bearer token (or a trusted proxy's user); cookies are not enough (no CSRF)."""
    web: Web = request.app.state.web
    call = _call(web, request, api=True)
    if call.visitor.via not in ("token", "proxy"):
        return refuse(call, 401, "the API acts only for a bearer token or a proxy's user", api=True)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return refuse(call, 413, "body too large", api=True)
    try:
        data = json.loads(raw)
    except ValueError:
        return refuse(call, 400, "expected a JSON object", api=True)
    if not isinstance(data, dict):
        return refuse(call, 400, "expected a JSON object", api=True)
    item = Item.of(data)
    commit = not data.get("dry_run", False)
    expect = data.get("expect_diff") if isinstance(data.get("expect_diff"), str) else None
    outcome, error = await run_in_threadpool(
        _run_item, web, item, call.visitor.user, commit=commit, expect=expect
    )
    if outcome is None:
        return JSONResponse({"error": error}, status_code=409)
    data = outcome.to_dict()
    data["message"] = outcome.message
    return JSONResponse(data)


def routes() -> list[Any]:
    from importlib.resources import files

    static = str(files("imagebot.web") / "static")
    return [
        Route("/", _reading(workloads_page)),
        Route("/workload", _reading(workload_page)),
        Route("/history", _reading(history_page)),
        Route("/approvals", _reading(approvals_page)),
        Route("/login", login_page),
        Route("/login", _acting(_login, needs_user=False), methods=["POST"]),
        Route("/logout", _acting(_logout, needs_user=False), methods=["POST"]),
        Route("/actions/plan", _acting(_plan), methods=["POST"]),
        Route("/actions/apply", _acting(_apply), methods=["POST"]),
        Route("/approvals/reject", _acting(_reject), methods=["POST"]),
        Route("/api/v1/workloads", api_workloads),
        Route("/api/v1/explain", api_explain),
        Route("/api/v1/history", api_history),
        Route("/api/v1/approvals", api_approvals),
        Route("/api/v1/changed", api_changed),
        Route("/api/v1/actions", api_action, methods=["POST"]),
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]


def create_app(config: Config, store: Store, *, runner: Runner | None = None) -> Starlette:
    """The Deploy view over *store* (the service's) and *config*; registry calls go through
    *runner* (the service's shared loop) or one the app starts when first needed."""
    import jinja2

    templates = jinja2.Environment(
        loader=jinja2.PackageLoader("imagebot.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    web = Web(config, store, Access(config.web), runner=runner, templates=templates)
    app = Starlette(routes=routes())
    app.state.web = web
    return app
