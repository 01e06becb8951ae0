"""Fixtures for the reconciler loop: a bot with a bare remote, and Flux/Argo CD payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from imagebot.config import RepositoryConfig
from imagebot.service.wiring import Wiring
from tests.gitops.helpers import Remote
from tests.harness import RegistryServer
from tests.update.helpers import Bot, automated, deployment

FLUX_SECRET = "flux-hmac-key-5b1e"
ARGO_TOKEN = "argo-shared-token-8c2d"


@pytest.fixture(autouse=True)
def _isolated_git(isolated_git: Path) -> None:
    """Every test here runs git in isolation."""


def flux_event(
    revision: str,
    *,
    severity: str = "info",
    reason: str = "ReconciliationSucceeded",
    message: str = "Reconciliation finished in 1.2s, next run in 10m0s",
    kind: str = "Kustomization",
    name: str = "apps",
    timestamp: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An event as Flux's notification-controller posts it to a generic provider."""
    event: dict[str, Any] = {
        "involvedObject": {
            "kind": kind,
            "namespace": "flux-system",
            "name": name,
            "uid": "7d4c2f3e-0c1b-4b7e-9d8a-3f1e2d4c5b6a",
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "resourceVersion": "40213",
        },
        "severity": severity,
        "timestamp": timestamp or "2026-01-01T00:00:00Z",
        "message": message,
        "reason": reason,
        "metadata": metadata if metadata is not None else {"revision": f"main@sha1:{revision}"},
        "reportingController": "kustomize-controller",
        "reportingInstance": "kustomize-controller-5f7b8c6d9-x2x4z",
    }
    return event


def flux_signed(event: dict[str, Any], secret: str = FLUX_SECRET) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a ``generic-hmac`` provider: ``X-Signature: sha256=<hex>``."""
    body = json.dumps(event).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Signature": f"sha256={digest}"}


def argo_body(revision: str, **fields: str) -> dict[str, str]:
    """What the README's Argo CD template renders after a successful sync."""
    body = {
        "app": "fleet-apps",
        "namespace": "argocd",
        "revision": revision,
        "sync": "Synced",
        "health": "Healthy",
        "phase": "Succeeded",
        "message": "successfully synced (all tasks run)",
    }
    body.update(fields)
    return body


@dataclass
class Loop:
    """A bot whose config has one repository (a bare remote) and a flux receiver."""

    bot: Bot
    remote: Remote
    repo: RepositoryConfig
    wiring: Wiring
    image: str


@pytest.fixture
def loop(tmp_path: Path, registry: RegistryServer, repo_name: str) -> Iterator[Loop]:
    registry.push(repo_name, ["1.0.0", "1.0.1"])
    image = f"{registry.host}/{repo_name}"
    files = {
        "apps/web.yaml": deployment("web", f"{image}:1.0.0", annotations=automated("semver:~1.0")),
        "apps/api.yaml": deployment("api", f"{image}:1.0.0", annotations=automated("semver:~1.0")),
    }
    where = tmp_path / "fleet"
    where.mkdir()
    from tests.gitops.helpers import make_remote

    remote = make_remote(where, files)
    config_text = (
        "repositories:\n"
        f"  - url: {remote.url}\n"
        "    name: fleet\n"
        "    branch: main\n"
        "service:\n"
        "  webhooks:\n"
        f"    flux: {{type: flux, secret: {FLUX_SECRET}}}\n"
    )
    with Bot(tmp_path, registry, config_text) as bot:
        (repo,) = bot.config.repositories
        yield Loop(bot, remote, repo, Wiring(bot.config, bot.runner, bot.store), image)
