"""Pull/merge requests on GitHub, GitLab and Gitea/Forgejo.

    async with forge_for(ws.url, repo.pull_request, credentials=repo.credentials) as forge:
        result = await forge.ensure(head=ws.bot_branch, base=ws.branch, title=..., body=...,
                                    labels=cfg.labels, reviewers=cfg.reviewers)
        ...
        await forge.close_for(ws.bot_branch, ws.branch, comment="No longer needed.")

The provider is guessed from the repository's host when not configured (github.com and
``github.*`` hosts, hosts containing ``gitlab``, ``gitea`` or ``forgejo``, codeberg.org); the
API base and project default from the repository URL too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Unpack

import httpx

from imagebot.config import GitCredentials, PullRequestConfig
from imagebot.errors import ConfigError
from imagebot.gitops.credentials import parse_remote_url
from imagebot.gitops.forge.base import Forge, ForgeOptions, PullRequest, PullRequestResult
from imagebot.gitops.forge.gitea import Gitea
from imagebot.gitops.forge.github import GitHub
from imagebot.gitops.forge.gitlab import GitLab

PROVIDERS: dict[str, type[Forge]] = {"github": GitHub, "gitlab": GitLab, "gitea": Gitea}

__all__ = [
    "PROVIDERS",
    "Forge",
    "GitHub",
    "GitLab",
    "Gitea",
    "PullRequest",
    "PullRequestResult",
    "default_api_url",
    "forge_for",
    "guess_provider",
    "resolve_token",
]


def guess_provider(host: str) -> str | None:
    host = host.lower()
    if host == "github.com" or host.startswith("github."):
        return "github"
    if "gitlab" in host:
        return "gitlab"
    if "gitea" in host or "forgejo" in host or host == "codeberg.org":
        return "gitea"
    return None


def default_api_url(provider: str, scheme: str, host: str, port: int | None = None) -> str:
    if provider == "github" and host == "github.com":
        return "https://api.github.com"
    base = f"{scheme if scheme in ('http', 'https') else 'https'}://{host}"
    if port and scheme in ("http", "https"):
        base += f":{port}"
    return base + {"github": "/api/v3", "gitlab": "/api/v4", "gitea": "/api/v1"}[provider]


def resolve_token(config: PullRequestConfig, credentials: GitCredentials | None = None) -> str:
    """token, else token_file, else token_env; else the Git password (often the same token)."""
    if config.token:
        return config.token
    if config.token_file:
        return _read(config.token_file, "pull_request.token_file")
    if config.token_env:
        value = os.environ.get(config.token_env, "").strip()
        if not value:
            raise ConfigError(
                f"environment variable {config.token_env} is not set or empty",
                key="pull_request.token_env",
            )
        return value
    if credentials and credentials.password_file:
        return _read(credentials.password_file, "credentials.password_file")
    if credentials and credentials.password_env and os.environ.get(credentials.password_env):
        return os.environ[credentials.password_env].strip()
    raise ConfigError(
        "pull-request mode needs an API token",
        key="pull_request",
        hint="set pull_request.token_file or pull_request.token_env",
    )


def forge_for(
    repo_url: str,
    config: PullRequestConfig,
    *,
    credentials: GitCredentials | None = None,
    client: httpx.AsyncClient | None = None,
    **options: Unpack[ForgeOptions],
) -> Forge:
    """The client for the forge hosting *repo_url*, from the ``pull_request`` settings."""
    remote = parse_remote_url(repo_url)
    provider = config.provider or (guess_provider(remote.host) if remote.host else None)
    if provider is None:
        raise ConfigError(
            f"cannot tell which forge hosts {remote.display}",
            key="pull_request.provider",
            hint="set it to github, gitlab or gitea",
        )
    project = config.project or remote.path.removesuffix(".git")
    if not project or (provider != "gitlab" and project.count("/") != 1):
        raise ConfigError(
            f"cannot tell the {provider} project from {remote.display}",
            key="pull_request.project",
            hint="set it to owner/name"
            + (" or the group/project path" if provider == "gitlab" else ""),
        )
    api_url = config.api_url
    if api_url is None:
        if not remote.host:
            raise ConfigError(f"no API URL for {remote.display}", key="pull_request.api_url")
        api_url = default_api_url(provider, remote.scheme, remote.host, remote.port)
    token = resolve_token(config, credentials)
    return PROVIDERS[provider](
        api_url=api_url,
        project=project,
        token=token,
        client=client,
        **options,
    )


def _read(path: str, key: str) -> str:
    try:
        value = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", key=key) from None
    if not value:
        raise ConfigError(f"{path} is empty", key=key)
    return value
