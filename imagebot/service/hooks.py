"""Webhook receivers: authenticate a registry's push notification, then say which image
repositories (and tags) it concerns; or a reconciler's report of what reached the cluster
(``flux``, ``argocd``: see :mod:`imagebot.service.reconcilers`).

Every receiver needs a secret, and a request that fails authentication triggers nothing.
Each sender is authenticated the strongest way it supports:

============ ================================================= =====================================
type         authentication                                    payload
============ ================================================= =====================================
github       ``X-Hub-Signature-256: sha256=<HMAC-SHA256 hex>`` ``package`` / ``registry_package``
                                                               events (GHCR), ``ping`` ignored
generic      ``X-Imagebot-Signature: sha256=<hex>`` (HMAC of   ``{"image": ..., "tag": ...}`` or a
             the body), or the secret as a token               list of them
gitlab       ``X-Gitlab-Token`` or ``Authorization`` header     registry notification envelope
                                                               (``{"events": [...]}``) as the GitLab
                                                               container registry sends it; a
                                                               project webhook (``object_kind``)
                                                               is answered 200, ignored: GitLab
                                                               documents no registry event for
                                                               project webhooks
distribution ``Authorization`` header (``notifications.        the same envelope, from a CNCF
             endpoints[].headers`` in the registry config)     Distribution registry
harbor       ``Authorization`` header (Harbor's "Auth Header") ``PUSH_ARTIFACT`` (Default format) or
                                                               ``harbor.artifact.pushed``
                                                               (CloudEvents format, structured)
dockerhub    ``?token=`` in the webhook URL (Docker Hub         ``push_data`` + ``repository``
             cannot send headers or sign)
quay         ``?token=`` in the webhook URL                     repository push notification
flux         ``X-Signature: sha256=<hex>`` (Provider type       Flux event JSON (Kustomization,
             ``generic-hmac``), or the secret as a token        HelmRelease): a reconciler report
             (type ``generic``: a header, or ``?token=``)
argocd       the secret as a token (``X-Imagebot-Token`` or     the README's notification template:
             ``Authorization: Bearer``, set by the webhook     a reconciler report
             service's ``headers``)
============ ================================================= =====================================

Tokens are compared in constant time. A token may also be given as ``Authorization: Bearer
<secret>`` to the header-based receivers, and as ``X-Imagebot-Token`` / ``?token=`` to the
generic one. Missing credentials are 401, wrong ones 403. Tokens (in headers or the URL) are
checked before the body is read (:meth:`Receiver.preauthenticate`); an HMAC needs the body.

**Replays.** Where the sender identifies a delivery or says when it sent it, a request seen
before within the replay window (``service.webhook_replay_window``), or sent longer ago than
that, is refused with 409 (:class:`ReplayGuard`, after authentication, so nobody can burn a
sender's ids):

============ =============================================================================
type         what identifies a delivery
============ =============================================================================
github       the signature (the HMAC of the body: a replay cannot change it), and
             ``X-GitHub-Delivery``
generic      ``X-Imagebot-Delivery``, or ``"delivery"`` / ``"timestamp"`` (Unix seconds)
             in the (signed) body
gitlab       the event ids of the envelope (``events[].id``), ``events[].timestamp``;
             ``X-Gitlab-Event-UUID`` when sent
distribution the event ids and timestamps, as gitlab
harbor       ``occur_at`` (Unix seconds) with the body's digest; CloudEvents: ``id``
             and ``time``
dockerhub    ``callback_url`` (one per delivery) and ``push_data.pushed_at``
quay         nothing: Quay sends neither (the token in the URL is the only check)
flux         the body's digest, dated by the event's ``timestamp``
argocd       nothing (acting on a report twice changes nothing: it is recorded once)
============ =============================================================================

A payload whose fields have the wrong type is refused with 400 naming the field, never an
internal error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from imagebot.config import WebhookReceiverConfig
from imagebot.errors import ConfigError, InvalidReference
from imagebot.reference import ImageReference, is_valid_tag
from imagebot.service.logs import REDACTOR
from imagebot.service.reconcilers import (
    Ignored,
    ReconcilerReport,
    ReportError,
    argocd_report,
    flux_report,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HookEvent:
    """A push the sender reported: ``image`` is the normalised repository
    (``docker.io/library/nginx``), ``tag`` is None when the sender did not name one."""

    image: str
    tag: str | None
    receiver: str


class Headers(Protocol):
    """A dict, or the server's ``http.client.HTTPMessage`` (which keeps repeated headers and
    looks names up case-insensitively, but is no Mapping)."""

    def get(self, name: str, /) -> str | None: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


@dataclass(frozen=True)
class HookRequest:
    """What a receiver sees of an HTTP request. Header names are matched case-insensitively."""

    body: bytes
    headers: Headers = field(default_factory=dict[str, str])
    query: Mapping[str, list[str]] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        if value is None:
            lowered = name.lower()
            for key, val in self.headers.items():
                if key.lower() == lowered:
                    return val
        return value

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


_KINDS = {
    400: "malformed",
    401: "unauthenticated",
    403: "forbidden",
    409: "replay",
    413: "too_large",
}


class HookRejected(Exception):
    """The request is refused with HTTP *status* (400, 401, 403, 409, 413); *reason* is safe
    to show; *kind* labels it in metrics (malformed, unauthenticated, forbidden, replay,
    too_large)."""

    def __init__(self, status: int, reason: str, *, kind: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.kind = kind or _KINDS.get(status, str(status))


@dataclass(frozen=True)
class Delivery:
    """What identifies one delivery: *keys* (any one seen before means a replay) and the
    time the sender says it sent it (Unix seconds), when it says."""

    keys: tuple[str, ...] = ()
    sent_at: float | None = None


class ReplayGuard:
    """Remembers deliveries for *window* seconds (at most *max_entries*, oldest dropped).

    A delivery is a replay when one of its keys was seen within the window, or when the
    sender dated it more than *window* seconds ago (or ahead): once its keys are forgotten,
    the date is what still tells a replay from a first delivery. Thread-safe.
    """

    def __init__(
        self,
        window: float = 600.0,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window = window
        self.max_entries = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, receiver: str, delivery: Delivery) -> None:
        """Record *delivery*, or raise :class:`HookRejected` (409) for a replay."""
        now = self._clock()
        if delivery.sent_at is not None and abs(now - delivery.sent_at) > self.window:
            age = now - delivery.sent_at
            when = f"{age:.0f}s ago" if age > 0 else f"{-age:.0f}s ahead of this clock"
            raise HookRejected(
                409,
                f"delivery dated {when}, outside the {self.window:.0f}s replay window",
            )
        keys = [f"{receiver}\0{key}" for key in delivery.keys]
        with self._lock:
            while self._seen and next(iter(self._seen.values())) <= now:
                self._seen.popitem(last=False)
            if any(key in self._seen for key in keys):
                raise HookRejected(409, "delivery already received (a replay)")
            for key in keys:
                self._seen[key] = now + self.window
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)


@dataclass(frozen=True)
class HookResult:
    """Events to act on (registry pushes, reconciler reports), or why a valid,
    authenticated request carries nothing to do."""

    events: tuple[HookEvent, ...] = ()
    ignored: str | None = None
    reports: tuple[ReconcilerReport, ...] = ()


class Receiver:
    """Base class: authenticate, decode JSON, parse. Subclasses set ``type`` and implement
    :meth:`authenticate` and :meth:`parse`."""

    type: ClassVar[str]

    def __init__(self, name: str, secret: str) -> None:
        if not secret:
            raise ValueError("a webhook receiver needs a secret")
        self.name = name
        self._secret = secret.encode()

    def handle(self, request: HookRequest, *, replays: ReplayGuard | None = None) -> HookResult:
        """Authenticate *request*, parse it, and refuse a replay when *replays* is given.
        Raises :class:`HookRejected`."""
        self.authenticate(request)
        try:
            payload = json.loads(request.body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise HookRejected(400, "body is not JSON") from None
        try:
            result = self.parse(payload, request)
            delivery = self.delivery(payload, request)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError):
            # A field of an unexpected type that no check above named.
            raise HookRejected(400, "payload: a field has an unexpected type") from None
        if replays is not None and (delivery.keys or delivery.sent_at is not None):
            replays.check(self.name, delivery)
        return result

    def preauthenticate(self, request: HookRequest) -> None:
        """Check what can be checked before the body is read (*request* has no body):
        the whole authentication for token schemes, the signature's presence for HMAC."""
        self.authenticate(request)

    def authenticate(self, request: HookRequest) -> None:
        raise NotImplementedError

    def delivery(self, payload: Any, request: HookRequest) -> Delivery:
        """What identifies this delivery for replay checks (nothing, by default)."""
        return Delivery()

    def parse(self, payload: Any, request: HookRequest) -> HookResult:
        raise NotImplementedError

    # --- helpers --------------------------------------------------------------------

    def _check_token(self, token: str | None) -> None:
        if token is None or token == "":
            raise HookRejected(401, "missing webhook token")
        if not hmac.compare_digest(token.encode(), self._secret):
            raise HookRejected(403, "wrong webhook token")

    def _check_authorization(self, request: HookRequest, *extra_headers: str) -> None:
        """The secret in one of *extra_headers* or in ``Authorization`` (raw or Bearer)."""
        for name in extra_headers:
            value = request.header(name)
            if value is not None:
                return self._check_token(value)
        value = request.header("Authorization")
        if value is not None and value[:7].lower() == "bearer ":
            value = value[7:].strip()
        return self._check_token(value)

    @staticmethod
    def _signature_digest(signature: str) -> str:
        algorithm, _, given = signature.strip().partition("=")
        if algorithm.lower() != "sha256" or not given:
            raise HookRejected(403, "signature must be sha256=<hex>")
        return given

    def _check_signature(self, signature: str, body: bytes) -> None:
        given = self._signature_digest(signature)
        expected = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.lower().encode(), expected.encode()):
            raise HookRejected(403, "wrong signature")

    def _event(self, image: str, tag: str | None) -> HookEvent:
        """Normalise *image* (``host/path``, no tag) and validate *tag*."""
        try:
            ref = ImageReference.parse(image)
        except InvalidReference as exc:
            raise HookRejected(400, f"bad image in payload: {exc}") from None
        if ref.tag is not None or ref.digest is not None:
            tag = tag or ref.tag
        if tag is not None and not is_valid_tag(tag):
            raise HookRejected(400, f"bad tag in payload: {tag[:130]!r}")
        return HookEvent(ref.repository, tag or None, self.name)


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise HookRejected(400, f"payload: expected {what} to be an object")
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _text(obj: dict[str, Any], key: str, where: str) -> str | None:
    """``obj[key]`` when a non-empty string, None when absent or empty; 400 naming the
    field when it is anything else."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HookRejected(400, f"payload: {where}{key} must be a string")
    return value


def _timestamp(value: Any) -> float | None:
    """Unix seconds (a number) or an RFC 3339 time; None when absent or unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _split_name_tag(text: str) -> tuple[str, str | None]:
    """``host/a/b:tag`` -> (``host/a/b``, ``tag``); a trailing ``:`` means no tag."""
    name = text.partition("@")[0]
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        return name[:colon], name[colon + 1 :] or None
    return name, None


class GitHubReceiver(Receiver):
    """GitHub ``package`` / ``registry_package`` webhooks for container packages (GHCR)."""

    type = "github"
    EVENTS = frozenset({"package", "registry_package"})
    ACTIONS = frozenset({"published", "updated"})

    def preauthenticate(self, request: HookRequest) -> None:
        signature = request.header("X-Hub-Signature-256")
        if not signature:
            raise HookRejected(401, "missing X-Hub-Signature-256")
        self._signature_digest(signature)

    def authenticate(self, request: HookRequest) -> None:
        self.preauthenticate(request)
        self._check_signature(request.header("X-Hub-Signature-256") or "", request.body)

    def delivery(self, payload: Any, request: HookRequest) -> Delivery:
        keys = [_digest(request.body)]  # what the signature covers: a replay cannot vary it
        delivery_id = request.header("X-GitHub-Delivery")
        if delivery_id:
            keys.append(f"delivery:{delivery_id}")
        return Delivery(tuple(keys))

    def parse(self, payload: Any, request: HookRequest) -> HookResult:
        event = request.header("X-GitHub-Event") or ""
        if event == "ping":
            return HookResult(ignored="ping")
        if event not in self.EVENTS:
            return HookResult(ignored=f"event {event or '(none)'!r} is not a package event")
        body = _obj(payload, "the body")
        action = body.get("action")
        if action not in self.ACTIONS:
            return HookResult(ignored=f"action {action!r}")
        package = _obj(body.get(event), event)
        kinds = {
            str(v).lower()
            for v in (
                package.get("package_type"),
                package.get("ecosystem"),
                _obj(package.get("registry") or {}, "registry").get("type"),
            )
            if v
        }
        if not kinds & {"container", "docker"}:
            return HookResult(ignored="not a container package")
        version = _obj(package.get("package_version") or {}, "package_version")
        metadata = _obj(version.get("container_metadata") or {}, "container_metadata")
        tag_info = _obj(metadata.get("tag") or {}, "container_metadata.tag")
        tag = _text(tag_info, "name", "container_metadata.tag.")
        # GitHub keeps the owner's capitals; registries only know lowercase names.
        package_url = _str(version.get("package_url"))
        if package_url:
            image, url_tag = _split_name_tag(package_url.lower())
            tag = tag or url_tag
        else:
            owner = _str(_obj(package.get("owner") or {}, "owner").get("login"))
            name = _str(package.get("name"))
            if not owner or not name:
                raise HookRejected(400, "payload: package has no owner login or name")
            image = f"ghcr.io/{owner}/{name}".lower()
        if tag is None:
            return HookResult(ignored="untagged package version")
        return HookResult((self._event(image, tag),))


class _TokenOrSignature(Receiver):
    """The secret as an HMAC of the body in :attr:`SIGNATURE_HEADER` (``sha256=<hex>``), or
    as a token: :attr:`TOKEN_HEADER`, ``Authorization: Bearer``, or ``?token=``."""

    SIGNATURE_HEADER = ""
    TOKEN_HEADER = "X-Imagebot-Token"

    def preauthenticate(self, request: HookRequest) -> None:
        signature = request.header(self.SIGNATURE_HEADER) if self.SIGNATURE_HEADER else None
        if signature:
            self._signature_digest(signature)  # the HMAC itself needs the body
            return
        self.authenticate(request)

    def authenticate(self, request: HookRequest) -> None:
        signature = request.header(self.SIGNATURE_HEADER) if self.SIGNATURE_HEADER else None
        if signature:
            return self._check_signature(signature, request.body)
        token = request.header(self.TOKEN_HEADER)
        if token is None:
            auth = request.header("Authorization")
            if auth is not None and auth[:7].lower() == "bearer ":
                token = auth[7:].strip()
        if token is None:
            token = request.query_value("token")
        return self._check_token(token)


class GenericReceiver(_TokenOrSignature):
    """``{"image": "ghcr.io/o/app", "tag": "1.2.3"}`` (or ``"image": "ghcr.io/o/app:1.2.3"``),
    or a list of such objects. Signed with ``X-Imagebot-Signature`` or given the token."""

    type = "generic"
    SIGNATURE_HEADER = "X-Imagebot-Signature"

    DELIVERY_HEADER = "X-Imagebot-Delivery"

    def delivery(self, payload: Any, request: HookRequest) -> Delivery:
        keys: list[str] = []
        sent_at = None
        header = request.header(self.DELIVERY_HEADER)
        if header:
            keys.append(f"delivery:{header}")
        if isinstance(payload, dict):
            delivery_id = payload.get("delivery")
            if delivery_id is not None and not isinstance(delivery_id, str):
                raise HookRejected(400, 'payload: "delivery" must be a string')
            if delivery_id:
                keys.append(f"delivery:{delivery_id}")
            if "timestamp" in payload:
                sent_at = _timestamp(payload["timestamp"])
                if sent_at is None:
                    raise HookRejected(400, 'payload: "timestamp" must be Unix seconds')
                keys.append(_digest(request.body))
        return Delivery(tuple(keys), sent_at)

    def parse(self, payload: Any, request: HookRequest) -> HookResult:
        items = payload if isinstance(payload, list) else [payload]
        if not items:
            raise HookRejected(400, "payload: empty list")
        events = []
        for item in items:
            obj = _obj(item, "each item")
            image = _str(obj.get("image"))
            if image is None:
                raise HookRejected(400, 'payload: missing "image"')
            tag = obj.get("tag")
            if tag is not None and not isinstance(tag, str):
                raise HookRejected(400, 'payload: "tag" must be a string')
            events.append(self._event(image, tag or None))
        return HookResult(tuple(events))


class DistributionReceiver(Receiver):
    """Registry notifications (``application/vnd.docker.distribution.events.v1+json``):
    manifest pushes that carry a tag; blob pushes, pulls and deletes are ignored."""

    type = "distribution"
    TOKEN_HEADERS: tuple[str, ...] = ()

    def authenticate(self, request: HookRequest) -> None:
        self._check_authorization(request, *self.TOKEN_HEADERS)

    def parse(self, payload: Any, request: HookRequest) -> HookResult:
        envelope = _obj(payload, "the body")
        raw_events = envelope.get("events")
        if not isinstance(raw_events, list):
            raise HookRejected(400, 'payload: expected an "events" list')
        events: list[HookEvent] = []
        for raw in raw_events:
            item = _obj(raw, "each event")
            if item.get("action") != "push":
                continue
            target = _obj(item.get("target") or {}, "target")
            tag = _text(target, "tag", "target.")
            repository = _text(target, "repository", "target.")
            _text(item, "id", "event ")
            if not tag or not repository:
                continue  # a blob, or a manifest pushed by digest only
            host = _text(_obj(item.get("request") or {}, "request"), "host", "request.")
            if host is None:
                raise HookRejected(400, "payload: push event without request.host")
            host = host.removeprefix("https://").removeprefix("http://").rstrip("/")
            event = self._event(f"{host}/{repository}", tag)
            if event not in events:
                events.append(event)
        if not events:
            return HookResult(ignored="no tagged manifest push")
        return HookResult(tuple(events))

    def delivery(self, payload: Any, request: HookRequest) -> Delivery:
        ids, times = [], []
        for raw in payload.get("events") or []:
            event_id = _str(raw.get("id"))
            if event_id:
                ids.append(event_id)
            when = _timestamp(raw.get("timestamp"))
            if when is not None:
                times.append(when)
        keys = ["events:" + ",".join(sorted(ids))] if ids else []
        uuid = request.header("X-Gitlab-Event-UUID")
        if uuid:
            keys.append(f"delivery:{uuid}")
        return Delivery(tuple(keys), max(times) if times else None)


class GitLabReceiver(DistributionReceiver):
    """The GitLab container registry's notifications (the same envelope); the token comes
    as ``X-Gitlab-Token`` or as the ``Authorization`` header configured for the endpoint.

    GitLab's project and group webhooks have no container registry event (their documented
    events are pushes, tags, merge requests, pipelines, jobs, deployments, releases ...): a
    project webhook pointed here is answered 200 and ignored, saying where registry events
    come from, rather than 400 (GitLab disables a webhook that keeps failing).
    """

    type = "gitlab"
    TOKEN_HEADERS = ("X-Gitlab-Token",)

    def parse(self, payload: Any, request: HookRequest) -> HookResult:
        if isinstance(payload, dict) and "events" not in payload and "object_kind" in payload:
            event = _str(request.header("X-Gitlab-Event")) or _str(payload.get("object_kind"))
            return HookResult(
                ignored=f"a GitLab project webhook ({str(event)[:40]!r}) carries no registry "
                "event: point the GitLab container registry's notifications at this URL"
            )
        return super().parse(payload, request)

    def delivery(self, payload: Any, request: HookRequest) -> Delivery:
        if isinstance(payload, dict) and "events" not in payload:
            return Delivery()
        return super().delivery(payload, request)


class HarborReceiver(Receiver):
    """Harbor ``PUSH_ARTIFACT`` webhooks in either payload format a Harbor project offers:
    *Default* (``type``, ``occur_at``, ``event_data.resources[]``) or *CloudEvents*
    (CloudEvents 1.0 structured mode: ``specversion``, ``id``, ``type:
    harbor.artifact.pushed``, ``time``, ``data.resources[]``). An artifact pushed by digest
    only names the digest where the tag would be: that is an event without a tag."""

    type = "harbor"
    CLOUDEVENT_PUSH = "harbor.artifact.pushed"

    def authenticate(self, request: HookRequest) -> None:
        self._check_authorization(request)

    def parse(self, payload: Any, request: HookRequest) -> HookResult:
        body = _obj(payload, "the body")
        if "specversion" in body:
            if body.get("type") != self.CLOUDEVENT_PUSH:
                return HookResult(ignored=f"event type {str(body.get('type'))[:80]!r}")
            data, where = _obj(body.get("data"), "data"), "data"
        else:
            if body.get("type") != "PUSH_ARTIFACT":
                return HookResult(ignored=f"event type {str(body.get('type'))[:80]!r}")
            data, where = _obj(body.get("event_data"), "event_data"), "event_data"
        resources = data.get("resources")
        if not isinstance(resources, list) or not resources:
            raise HookRejected(400, f"payload: {where}.resources is empty")
        events: list[HookEvent] = []
        for raw in resources:
            resource = _obj(raw, "each resource")
            url = _text(resource, "resource_url", f"{where}.resources[].")
            if url is None:
                raise HookRejected(400, "payload: resource without resource_url")
            image, url_tag = _split_name_tag(url)
            tag = _text(resource, "tag", f"{where}.resources[].") or url_tag
            if tag is not None and tag.startswith("sha256:"):
                tag = None  # pushed by digest: Harbor repeats the digest as its "tag"
            event = self._event(image, tag)
            if event not in events:
                events.append(event)
        return HookResult(tuple(events))

    def delivery(self, payload: Any, request: HookRequest) -> Delivery:
        if not isinstance(payload, dict):
            return Delivery()
        if "specversion" in payload:
            event_id = _str(payload.get("id"))
            sent_at = _timestamp(payload.get("time"))
            keys = (f"cloudevent:{event_id}",) if event_id else ()
            if not keys and sent_at is not None:
                keys = (_digest(request.body),)
            return Delivery(keys, sent_at)
        sent_at = _timestamp(payload.get("occur_at"))
        if sent_at is None:
            return Delivery()
        return Delivery((_digest(request.body),), sent_at)  # dated: same body = same delivery


class DockerHubReceiver(Receiver):
    """Docker Hub repository webhooks; Docker Hub can only be given a URL, so the token
    travels as ``?token=`` (use HTTPS)."""

    type = "dockerhub"

    def authenticate(self, request: HookRequest) -> None:
        self._check_token(request.query_value("token"))

    def parse(self, payload: Any, request: HookRequest) -> HookResult:
        body = _obj(payload, "the body")
        repository = _obj(body.get("repository"), "repository")
        push = _obj(body.get("push_data") or {}, "push_data")
        name = _str(repository.get("repo_name"))
        if name is None:
            namespace, short = _str(repository.get("namespace")), _str(repository.get("name"))
            if not namespace or not short:
                raise HookRejected(400, "payload: repository has no repo_name")
            name = f"{namespace}/{short}"
        tag = push.get("tag")
        if tag is not None and not isinstance(tag, str):
            raise HookRejected(400, "payload: push_data.tag must be a string")
        return HookResult((self._event(f"docker.io/{name.lower()}", tag or None),))

    def delivery(self, payload: Any, request: HookRequest) -> Delivery:
        callback = _str(payload.get("callback_url"))
        push = payload.get("push_data") or {}
        sent_at = _timestamp(push.get("pushed_at")) if isinstance(push, dict) else None
        keys = [f"callback:{callback}"] if callback else []
        if sent_at is not None:
            keys.append(_digest(request.body))
        return Delivery(tuple(keys), sent_at)


class QuayReceiver(Receiver):
    """Quay repository push notifications; the token travels as ``?token=``."""

    type = "quay"

    def authenticate(self, request: HookRequest) -> None:
        self._check_token(request.query_value("token"))

    def parse(self, payload: Any, request: HookRequest) -> HookResult:
        body = _obj(payload, "the body")
        image = _str(body.get("docker_url"))
        if image is None:
            repository = _str(body.get("repository"))
            if repository is None:
                raise HookRejected(400, "payload: no docker_url or repository")
            image = f"quay.io/{repository}"
        image = image.removeprefix("https://").removeprefix("http://")
        tags = body.get("updated_tags")
        # Documented as a list; older Quay versions sent {tag: image id}.
        names = list(tags) if isinstance(tags, list | dict) else []
        if not all(isinstance(t, str) for t in names):
            raise HookRejected(400, "payload: updated_tags must be tag names")
        if not names:
            return HookResult((self._event(image, None),))
        return HookResult(tuple(self._event(image, t) for t in dict.fromkeys(names)))


#: How each reconciler's payload is read (:mod:`imagebot.service.reconcilers`).
_READERS: dict[str, Callable[[Any, str], ReconcilerReport | Ignored]] = {
    "flux": flux_report,
    "argocd": argocd_report,
}


class _ReportReceiver(_TokenOrSignature):
    """A reconciler's receiver: its payload read into one report (``_READERS[type]``)."""

    def parse(self, payload: Any, request: HookRequest) -> HookResult:
        try:
            found = _READERS[self.type](payload, self.name)
        except ReportError as exc:
            raise HookRejected(400, str(exc)) from None
        if isinstance(found, Ignored):
            return HookResult(ignored=found.why)
        return HookResult(reports=(found,))


class FluxReceiver(_ReportReceiver):
    """Flux notification-controller events (``Provider`` type ``generic-hmac``: signed in
    ``X-Signature``; type ``generic``: the token in a header from the provider's secret, or
    ``?token=`` in its address). Kustomization and HelmRelease events become reconciler
    reports (:func:`imagebot.service.reconcilers.flux_report`)."""

    type = "flux"
    SIGNATURE_HEADER = "X-Signature"

    def delivery(self, payload: Any, request: HookRequest) -> Delivery:
        sent_at = _timestamp(payload.get("timestamp")) if isinstance(payload, dict) else None
        return Delivery((_digest(request.body),), sent_at)


class ArgoCDReceiver(_ReportReceiver):
    """Argo CD notifications' ``webhook`` service, with the README's template, the secret in
    an ``X-Imagebot-Token`` (or ``Authorization: Bearer``) header the service sets."""

    type = "argocd"


RECEIVER_TYPES: dict[str, type[Receiver]] = {
    cls.type: cls
    for cls in (
        GitHubReceiver,
        GenericReceiver,
        GitLabReceiver,
        DistributionReceiver,
        HarborReceiver,
        DockerHubReceiver,
        QuayReceiver,
        FluxReceiver,
        ArgoCDReceiver,
    )
}

#: Receiver types whose events are reconciler reports (what reached the cluster).
RECONCILER_TYPES = frozenset({FluxReceiver.type, ArgoCDReceiver.type})


def resolve_secret(
    name: str,
    config: WebhookReceiverConfig,
    *,
    environ: Mapping[str, str] = os.environ,
    file: str | None = None,
) -> str:
    """The receiver's secret from ``secret``, ``secret_file`` or ``secret_env`` (exactly
    one); registered with the log redactor."""
    key = f"service.webhooks.{name}"
    given = [k for k in ("secret", "secret_file", "secret_env") if getattr(config, k)]
    if not given:
        raise ConfigError(
            "a webhook receiver needs secret, secret_file or secret_env",
            file=file,
            key=key,
            hint="unauthenticated webhooks would let anyone trigger the bot",
        )
    if len(given) > 1:
        raise ConfigError(f"give only one of {', '.join(given)}", file=file, key=key)
    if config.secret:
        secret = config.secret
    elif config.secret_file:
        path = Path(config.secret_file).expanduser()
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read secret_file {config.secret_file}: {exc.strerror}",
                file=file,
                key=f"{key}.secret_file",
            ) from None
    else:
        assert config.secret_env is not None
        secret = environ.get(config.secret_env, "").strip()
        if not secret:
            raise ConfigError(
                f"environment variable {config.secret_env} is not set or empty",
                file=file,
                key=f"{key}.secret_env",
            )
    if not secret:
        raise ConfigError("the secret is empty", file=file, key=key)
    REDACTOR.register(secret)
    return secret


def build_receivers(
    configs: Mapping[str, WebhookReceiverConfig],
    *,
    environ: Mapping[str, str] = os.environ,
    file: str | None = None,
) -> dict[str, Receiver]:
    """One :class:`Receiver` per configured name; :class:`ConfigError` names the bad one."""
    receivers: dict[str, Receiver] = {}
    for name, config in configs.items():
        if not name or "/" in name or name != name.strip():
            raise ConfigError(
                f"receiver name {name!r} cannot be used in a URL path",
                file=file,
                key="service.webhooks",
            )
        cls = RECEIVER_TYPES.get(config.type)
        if cls is None:
            raise ConfigError(
                f"unknown receiver type {config.type!r}", file=file, key=f"service.webhooks.{name}"
            )
        try:
            secret = resolve_secret(name, config, environ=environ, file=file)
        except ConfigError as exc:
            absent = (config.secret_env and not environ.get(config.secret_env, "").strip()) or (
                config.secret_file and not Path(config.secret_file).expanduser().exists()
            )
            if not (config.optional and absent):
                raise
            log.warning("webhook receiver %s is off: %s (optional: true)", name, exc.reason)
            continue
        receivers[name] = cls(name, secret)
    return receivers
