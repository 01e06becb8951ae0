"""What every forge client shares: the pull request value, requests, errors, ``ensure``.

The clients are asynchronous (``httpx.AsyncClient``) like the registry client: the service
runs its cycles on one event loop (webhooks, metrics, schedules), and a PR call that waits
on a slow forge must not stall it. The Git side is synchronous subprocess work; run it in a
thread (``asyncio.to_thread``) from async code.

One pull request per bot branch: :meth:`Forge.ensure` finds the open one for (head, base)
and updates it, or opens it; :meth:`Forge.close_for` closes it when its change is no longer
wanted. Labels and reviewers are best effort: a failure there is reported in
``PullRequestResult.warnings`` and never loses the pull request itself.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypedDict

import httpx

from imagebot import __version__
from imagebot.errors import ForgeError
from imagebot.gitops.credentials import redact
from imagebot.safetext import printable

log = logging.getLogger(__name__)

_HINTS = {
    401: "check the API token (pull_request.token, token_file or token_env)",
    403: "the token lacks permission to manage pull requests in this project",
    404: "check pull_request.project and api_url (a token without access also gets 404)",
}


PullRequestState = Literal["open", "closed", "merged"]


@dataclass(frozen=True)
class PullRequest:
    """A pull request (GitHub, Gitea) or merge request (GitLab), as the bot needs it."""

    number: int
    """GitHub/Gitea number, GitLab iid: what the web UI shows after # or !."""
    url: str
    title: str
    body: str
    head: str
    base: str
    state: PullRequestState
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class PullRequestResult:
    pull_request: PullRequest
    action: Literal["created", "updated", "unchanged"]
    warnings: list[str] = field(default_factory=list)


class ForgeOptions(TypedDict, total=False):
    """The tuning keyword arguments of a :class:`Forge` (what ``forge_for`` passes on)."""

    timeout: float
    retries: int
    sleep: Callable[[float], Awaitable[None]]


class Forge(ABC):
    """A pull-request API for one project. Use ``async with`` (or ``await aclose()``)."""

    provider: ClassVar[str]

    def __init__(
        self,
        *,
        api_url: str,
        project: str,
        token: str,
        client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.project = project
        self._token = token
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._deadline = timeout
        self._retries = retries
        self._sleep = sleep

    @property
    def name(self) -> str:
        return f"{self.provider} {self.project}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.api_url!r}, {self.project!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Forge:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ the provider's part

    @abstractmethod
    def _auth_headers(self) -> dict[str, str]: ...

    @abstractmethod
    async def find_open(self, head: str, base: str) -> PullRequest | None:
        """The open pull request from branch *head* into *base* in this project, if any."""

    @abstractmethod
    async def create(self, head: str, base: str, title: str, body: str) -> PullRequest: ...

    @abstractmethod
    async def edit(self, pr: PullRequest, *, title: str, body: str) -> PullRequest: ...

    @abstractmethod
    async def close(self, pr: PullRequest) -> PullRequest: ...

    @abstractmethod
    async def comment(self, pr: PullRequest, body: str) -> None: ...

    @abstractmethod
    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None: ...

    @abstractmethod
    async def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> None: ...

    # ------------------------------------------------------------ shared behaviour

    async def ensure(
        self,
        *,
        head: str,
        base: str,
        title: str,
        body: str,
        labels: Sequence[str] = (),
        reviewers: Sequence[str] = (),
    ) -> PullRequestResult:
        """Open the pull request for *head* → *base*, or bring the open one up to date.

        Reviewers are requested only when the pull request is opened (asking again on every
        update would re-notify people who already reviewed); missing labels are added on
        every run.
        """
        warnings: list[str] = []
        pr = await self.find_open(head, base)
        if pr is None:
            try:
                pr = await self.create(head, base, title, body)
                action: Literal["created", "updated", "unchanged"] = "created"
            except ForgeError as exc:
                # Another bot instance may have opened it a moment ago.
                if exc.status not in (409, 422) or (pr := await self.find_open(head, base)) is None:
                    raise
                action = "unchanged"
            if action == "created" and reviewers:
                await self._best_effort(
                    warnings, "request reviewers", self.request_reviewers(pr, reviewers)
                )
        else:
            action = "unchanged"
        if action != "created" and (
            _norm(pr.title) != _norm(title) or _norm(pr.body) != _norm(body)
        ):
            pr = await self.edit(pr, title=title, body=body)
            action = "updated"
        missing = [label for label in labels if label not in pr.labels]
        if missing:
            await self._best_effort(warnings, "add labels", self.add_labels(pr, missing))
        log.info("%s: pull request #%d %s (%s)", self.name, pr.number, action, pr.url)
        return PullRequestResult(pr, action, warnings)

    async def close_for(
        self, head: str, base: str, *, comment: str | None = None
    ) -> PullRequest | None:
        """Close the open pull request for *head* → *base* (after *comment*); None if none."""
        pr = await self.find_open(head, base)
        if pr is None:
            return None
        if comment:
            await self.comment(pr, comment)
        closed = await self.close(pr)
        log.info("%s: closed pull request #%d", self.name, pr.number)
        return closed

    async def _best_effort(self, warnings: list[str], what: str, call: Awaitable[None]) -> None:
        try:
            await call
        except ForgeError as exc:
            log.warning("%s: could not %s: %s", self.name, what, exc)
            warnings.append(f"could not {what}: {exc}")

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """One API call; JSON back, or ForgeError naming the project, call and status.

        Retries transport failures, 429 and (for GET only, which is idempotent) 5xx; a POST
        is never re-sent after the forge may have acted on it.
        """
        url = f"{self.api_url}{path}"
        headers = {
            "User-Agent": f"imagebot/{__version__}",
            "Accept": "application/json",
            **self._auth_headers(),
        }
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                response = await self._exchange(method, url, params, json, headers)
            except _TooLarge as exc:
                raise ForgeError(f"{self.name}: {method} {path}: {exc}") from None
            except (httpx.TransportError, TimeoutError) as exc:
                if isinstance(exc, TimeoutError):
                    exc = httpx.ReadTimeout(f"no complete answer within {self._deadline:g}s")
                safe = method == "GET" or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if safe and not last:
                    await self._sleep(0.5 * 2**attempt)
                    continue
                raise ForgeError(
                    self._redact(
                        f"{self.name}: {method} {path}: {type(exc).__name__}: "
                        f"{printable(str(exc), limit=300)}"
                    )
                ) from None
            log.debug("%s: %s %s -> %d", self.name, method, path, response.status_code)
            status = response.status_code
            if not last and (status == 429 or (status >= 500 and method == "GET")):
                await self._sleep(_retry_after(response, 0.5 * 2**attempt))
                continue
            if response.is_success:
                if not response.content:
                    return None
                try:
                    return response.json()
                except (ValueError, RecursionError):
                    raise ForgeError(
                        f"{self.name}: {method} {path}: the answer is not JSON "
                        f"({len(response.content)} bytes)"
                    ) from None
            raise ForgeError(
                self._redact(
                    f"{self.name}: {method} {path} answered {status} "
                    f"{printable(response.reason_phrase)}: {_api_message(response)}"
                ),
                status=status,
                hint=_HINTS.get(status),
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(
        self, method: str, url: str, params: Any, json: Any, headers: dict[str, str]
    ) -> httpx.Response:
        """The whole answer, within one deadline (connect, headers and body together, not per
        read: a forge that trickles cannot hold a cycle) and :data:`MAX_ANSWER_BYTES`."""
        async with asyncio.timeout(self._deadline):
            async with self._client.stream(
                method, url, params=params, json=json, headers=headers
            ) as streamed:
                declared = streamed.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
                    raise _TooLarge(f"an answer of {declared} bytes")
                body = bytearray()
                async for chunk in streamed.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise _TooLarge("an answer that does not end")
        kept = [
            (k, v)
            for k, v in streamed.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            streamed.status_code,
            headers=kept,
            content=bytes(body),
            request=streamed.request,
            extensions={"reason_phrase": streamed.reason_phrase.encode()},
        )

    def _redact(self, text: str) -> str:
        return redact(text, [self._token])


#: Largest forge API answer read, after decompression (a pull request is a few KiB).
MAX_ANSWER_BYTES = 4 * 1024 * 1024


class _TooLarge(Exception):
    def __str__(self) -> str:
        return f"{self.args[0]}, over the {MAX_ANSWER_BYTES}-byte limit; not read"


def _norm(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").strip()


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("Retry-After", default)), 10.0)
    except ValueError:
        return default


def _api_message(response: httpx.Response) -> str:
    """The forge's error message, cut to 300 characters and escaped (it is remote text)."""
    try:
        data = response.json()
    except (ValueError, RecursionError):
        return printable(response.text[:300].strip(), limit=300) or "(no body)"
    if isinstance(data, dict):
        message = data.get("message") or data.get("error") or data.get("error_description")
        errors = data.get("errors")
        text = str(message) if message else str(data)
        if errors:
            text += f" {errors}"
        return printable(text, limit=300)
    return printable(str(data), limit=300)
