"""What ``imagebot run`` checks before it starts, beyond the schema; ``imagebot config
validate`` runs the very same checks, so a config that validates starts.

The schema (:mod:`imagebot.config`) checks what a file says. These check what it points at,
where every later failure would come too late (a pod that starts, then fails its first
cycle, or drops webhooks): every secret resolvable (``secret`` *or* ``secret_env``, never
both; each ``*_env`` variable set and not empty; each ``*_file`` readable), the Git key and
known-hosts files readable, the verifiers' public keys readable and usable (cosign ECDSA
P-256 or Ed25519 PEM), commit and pull request templates using only known fields
(``{subjekt}`` is an error), branch names valid ref names, and repository names distinct.

Each problem is a :class:`~imagebot.errors.ConfigError` naming the file and key; none of
them carries a secret's value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

from imagebot.config import Config, RepositoryConfig
from imagebot.errors import ConfigError, ImagebotError


def preflight(config: Config, *, environ: Mapping[str, str] = os.environ) -> list[ConfigError]:
    """Every problem ``imagebot run`` would stop at, in file order (empty: it starts)."""
    problems: list[ConfigError] = []
    file = config.source

    def attempt(key: str, check: Callable[[], object]) -> None:
        try:
            check()
        except ConfigError as exc:
            problems.append(_placed(exc, file, key))
        except ImagebotError as exc:
            problems.append(ConfigError(str(exc), file=file, key=key, hint=exc.hint))

    for host, registry in config.registries.items():
        key = f"registries.{host}"
        if registry.password_env:
            attempt(f"{key}.password_env", partial(_env, registry.password_env, environ))
        if registry.password_file:
            attempt(f"{key}.password_file", partial(_readable, registry.password_file))

    if config.state.url_env:
        attempt("state.url_env", partial(config.state.resolved_url, environ))
    for name in config.verifiers:
        attempt(f"verifiers.{name}", partial(_keys, config, name))

    names: dict[str, int] = {}
    for index, repo in enumerate(config.repositories):
        key = f"repositories[{index}]"
        name = repo.display_name
        if name in names:
            problems.append(
                ConfigError(
                    f"two repositories are named {name!r} (entries {names[name]} and {index})",
                    file=file,
                    key=key,
                    hint="set a distinct name on one of them",
                )
            )
        names.setdefault(name, index)
        _repository(repo, key, attempt, environ)

    from imagebot.service.hooks import build_receivers

    for name, hook in config.service.webhooks.items():
        attempt(
            f"service.webhooks.{name}",
            partial(build_receivers, {name: hook}, environ=environ, file=file),
        )
    return problems


def check_or_raise(config: Config, *, environ: Mapping[str, str] = os.environ) -> None:
    """Raise the first problem :func:`preflight` finds, its message counting the others."""
    problems = preflight(config, environ=environ)
    if not problems:
        return
    first = problems[0]
    if len(problems) > 1:
        more = len(problems) - 1
        first.hint = (
            f"{more} more problem{'s' if more > 1 else ''}: "
            "`imagebot config validate` lists them all"
        )
    raise first


def _repository(
    repo: RepositoryConfig,
    key: str,
    attempt: Callable[[str, Callable[[], object]], None],
    environ: Mapping[str, str],
) -> None:
    from imagebot.gitops import parse_remote_url, validate_branch_name
    from imagebot.gitops.workspace import bot_branch_name
    from imagebot.update.changes import TEMPLATE_FIELDS, render

    branch = repo.branch
    if branch is not None:
        attempt(f"{key}.branch", lambda: validate_branch_name(branch, what="branch"))
    attempt(f"{key}.push_branch", lambda: bot_branch_name(repo.push_branch, branch or "main"))
    sample = {field: "x" for field in TEMPLATE_FIELDS}
    if repo.commit.message is not None:
        message = repo.commit.message
        attempt(f"{key}.commit.message", lambda: render(message, sample, key="commit.message"))
    if repo.pull_request.title is not None:
        title = repo.pull_request.title
        attempt(f"{key}.pull_request.title", lambda: render(title, sample, key="title"))
    pr = repo.pull_request
    if pr.token_env:
        attempt(f"{key}.pull_request.token_env", lambda: _env(pr.token_env or "", environ))
    if pr.token_file:
        attempt(f"{key}.pull_request.token_file", lambda: _readable(pr.token_file or ""))
    creds = repo.credentials
    if creds.password_env:
        attempt(f"{key}.credentials.password_env", lambda: _env(creds.password_env or "", environ))
    for field in ("password_file", "ssh_key_file", "known_hosts_file"):
        path = getattr(creds, field)
        if path:
            attempt(f"{key}.credentials.{field}", partial(_readable, path))
    if repo.commit.signing_key and repo.commit.signing_format == "ssh":
        signing_key = repo.commit.signing_key
        attempt(f"{key}.commit.signing_key", lambda: _readable(signing_key))
    for number, target in enumerate(repo.notify):
        if target.url_file:
            attempt(f"{key}.notify[{number}].url_file", partial(_readable, target.url_file))
    if repo.url:
        attempt(f"{key}.url", lambda: parse_remote_url(repo.url or ""))


def _keys(config: Config, name: str) -> None:
    """The verifier's public keys read and parsed (ECDSA P-256 or Ed25519 PEM)."""
    from imagebot.registry.cosign import load_verifier

    entry = config.verifiers[name]
    base = Path(config.source).parent if config.source else Path.cwd()
    load_verifier(name, entry.public_keys, entry.public_key_files, base=base)


def _env(name: str, environ: Mapping[str, str]) -> None:
    if not environ.get(name, "").strip():
        raise ConfigError(f"environment variable {name} is not set or empty")


def _readable(path: str) -> None:
    try:
        with Path(path).expanduser().open("rb") as f:
            f.read(1)
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _placed(exc: ConfigError, file: str | None, key: str) -> ConfigError:
    """*exc* reported under the full *key* in *file* (checks raise it with a short key)."""
    if exc.file is not None:
        return exc  # placed already
    return ConfigError(exc.reason, file=file, key=key, hint=exc.hint)
