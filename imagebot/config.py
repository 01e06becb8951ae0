"""The configuration file: one YAML document, validated into frozen dataclasses.

The schema *is* the dataclasses below: a field's type says what the YAML value must be, and
its ``metadata["doc"]`` says what it means (``imagebot config-reference`` and the README are
generated from the same text). Validation is strict, because a typo in a config key that is
silently ignored is how a bot ends up pushing to the wrong branch: an unknown key is an error
naming the file, line and key, with the closest known key as a hint.

Add a setting by adding a field with a default; nothing else needs to change.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from imagebot.errors import ConfigError

log = logging.getLogger(__name__)

CONFIG_ENV = "IMAGEBOT_CONFIG"
DEFAULT_MAX_RESPONSE_SIZE = 16 * 1024 * 1024
STATE_DIR_ENV = "IMAGEBOT_STATE_DIR"


class FieldError(ValueError):
    """Raised by a section's ``__post_init__``: the loader reports it under ``key``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def doc(text: str, **kwargs: Any) -> Any:
    """A dataclass field with documentation (and optionally default/default_factory)."""
    return field(metadata={"doc": text}, **kwargs)


class Duration(float):
    """Seconds, written in YAML as a number or as ``90s``, ``5m``, ``1h30m``, ``2d``."""

    _UNIT: typing.ClassVar[dict[str, float]] = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    _RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")

    @classmethod
    def parse(cls, value: object) -> Duration:
        if isinstance(value, bool):
            raise ValueError("expected a duration such as 30s, 5m or 1h")
        if isinstance(value, int | float):
            if value < 0:
                raise ValueError("a duration cannot be negative")
            return cls(value)
        if isinstance(value, str):
            text = value.strip()
            if re.fullmatch(r"\d+(?:\.\d+)?", text):
                return cls(float(text))
            pos, total = 0, 0.0
            for match in cls._RE.finditer(text):
                if match.start() != pos:
                    break
                total += float(match.group(1)) * cls._UNIT[match.group(2)]
                pos = match.end()
            if text and pos == len(text):
                return cls(total)
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")


#: The shortest polling or cycle interval accepted, in seconds.
MIN_INTERVAL = 1.0
#: What every interval setting is told when it is shorter (the same words everywhere).
INTERVAL_RULE = "an interval must be at least 1s (0 and fractions of a second are refused)"


class Interval(Duration):
    """How often something runs: a :class:`Duration` of at least :data:`MIN_INTERVAL`.

    0 and sub-second values are refused, never replaced by a default: ``interval: 0`` that
    silently meant "the service's interval" hid typos (``0.5`` meant as minutes)."""

    @classmethod
    def parse(cls, value: object) -> Interval:
        seconds = Duration.parse(value)
        if seconds < MIN_INTERVAL:
            raise ValueError(f"{INTERVAL_RULE}, got {value!r}")
        return cls(seconds)


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryConfig:
    """Settings for one registry host (the key in ``registries:``)."""

    mirror: str | None = doc(
        "Base URL of a pull-through cache or mirror that answers for this registry's "
        "repositories, e.g. https://mirror.example.com (repositories keep their names).",
        default=None,
    )
    insecure: bool = doc(
        "Use plain HTTP (or accept an unverified TLS certificate) for this host. Hosts on "
        "loopback are always plain HTTP, as Docker does.",
        default=False,
    )
    username: str | None = doc("User name for HTTP Basic or the token endpoint.", default=None)
    password: str | None = doc("Password or token (prefer password_file).", default=None)
    password_file: str | None = doc("File holding the password or token.", default=None)
    password_env: str | None = doc(
        "Environment variable holding the password or token.", default=None
    )
    credential_helper: str | None = doc(
        "Name of a Docker credential helper: imagebot runs `docker-credential-<name> get`.",
        default=None,
    )
    rate_limit: float | None = doc(
        "Requests per second to this host (the mirror's host when a mirror is set). "
        "Default: 2 for docker.io; no cap for a host configured here or on loopback or a "
        "private network; 10 for other hosts.",
        default=None,
    )
    max_concurrency: int | None = doc(
        "Requests in flight at once to this host. Default: 4 (8 on loopback or a private network).",
        default=None,
    )
    interval: Interval | None = doc(
        "How often the service polls this registry's images (default: service.interval).",
        default=None,
    )
    timeout: Duration = doc(
        "Deadline of one HTTP request to this host: connecting, the headers and the whole "
        "body together, not per read. A request over it counts as a timeout (see retries).",
        default=Duration(30),
    )
    max_response_size: int = doc(
        "Largest answer read from this host, in bytes (a tag list page, manifest, config "
        "blob, token or error body); a larger one fails that repository. Default: 16 MiB, "
        "an unpaginated list of about 600,000 tags of 25 characters.",
        default=DEFAULT_MAX_RESPONSE_SIZE,
    )
    max_pages: int = doc(
        "Most tag list pages followed for one repository; a longer list is an error for that "
        "repository, never a partial list. Default: 2000 (200,000 tags at 100 per page).",
        default=2000,
    )
    max_tags: int = doc(
        "Most tags accepted for one repository, over all pages; more is an error for that "
        "repository, never a partial list. Default: 500000.",
        default=500_000,
    )
    retries: int | None = doc(
        "How often a request that failed with 429, 502, 503, 504 or a timeout is retried, "
        "with exponential back-off. Default: 4.",
        default=None,
    )

    def __post_init__(self) -> None:
        if self.mirror is not None:
            object.__setattr__(self, "mirror", self.mirror.rstrip("/"))
            if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", self.mirror):
                raise FieldError("mirror", "expected a URL such as https://mirror.example.com")
        secrets = [k for k in ("password", "password_file", "password_env") if getattr(self, k)]
        if len(secrets) > 1:
            raise FieldError(secrets[1], f"give only one of {', '.join(secrets)}")
        if secrets and not self.username:
            raise FieldError(secrets[0], "needs a username as well")
        if self.username and not secrets:
            raise FieldError("username", "needs password, password_file or password_env")
        if self.username and self.credential_helper:
            raise FieldError("credential_helper", "give either username or credential_helper")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise FieldError("rate_limit", "expected a number of requests per second above 0")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise FieldError("max_concurrency", "expected a whole number of at least 1")
        if self.retries is not None and self.retries < 0:
            raise FieldError("retries", "expected a whole number of at least 0")
        if self.timeout <= 0:
            raise FieldError("timeout", "expected a duration above 0")
        for key in ("max_response_size", "max_pages", "max_tags"):
            if getattr(self, key) < 1:
                raise FieldError(key, "expected a whole number of at least 1")


@dataclass(frozen=True)
class ImageConfig:
    """Per-image settings (the key in ``images:`` is a repository such as ``ghcr.io/o/app``)."""

    interval: Interval | None = doc(
        "How often the service polls this image (overrides the registry's interval).",
        default=None,
    )


@dataclass(frozen=True)
class CommitConfig:
    """How the bot writes its commits."""

    message: str | None = doc(
        "Commit message template (Python str.format fields: see the README). "
        "Default: a summary line and one line per change.",
        default=None,
    )
    author_name: str = doc("Commit author name.", default="imagebot")
    author_email: str = doc("Commit author e-mail.", default="imagebot@users.noreply.local")
    committer_name: str | None = doc("Committer name (default: the author).", default=None)
    committer_email: str | None = doc("Committer e-mail (default: the author).", default=None)
    signing_key: str | None = doc(
        "Sign commits with this key: a GPG key id, or an SSH key file with signing_format ssh.",
        default=None,
    )
    signing_format: Literal["gpg", "ssh"] = doc("openpgp (gpg) or ssh signing.", default="gpg")
    signing_program: str | None = doc(
        "Program git signs with (git's gpg.program, or gpg.ssh.program with signing_format "
        "ssh); default: gpg, or ssh-keygen.",
        default=None,
    )


@dataclass(frozen=True)
class PullRequestConfig:
    """Where and how pull/merge requests are opened (write_mode: pull-request)."""

    provider: Literal["github", "gitlab", "gitea"] | None = doc(
        "Forge API flavour; guessed from the repository URL when omitted.", default=None
    )
    api_url: str | None = doc(
        "API base URL (default: https://api.github.com, https://gitlab.com/api/v4, or the "
        "Gitea/Forgejo host's /api/v1).",
        default=None,
    )
    project: str | None = doc(
        "owner/name (GitHub, Gitea) or project path (GitLab); default: taken from the URL.",
        default=None,
    )
    token: str | None = doc("API token (prefer token_file or token_env).", default=None)
    token_file: str | None = doc("File holding the API token.", default=None)
    token_env: str | None = doc("Environment variable holding the API token.", default=None)
    title: str | None = doc("Title template for the pull request.", default=None)
    labels: list[str] = doc("Labels to put on the pull request.", default_factory=list)
    reviewers: list[str] = doc("Reviewers to request.", default_factory=list)


@dataclass(frozen=True)
class GitCredentials:
    """How to authenticate to the Git remote."""

    ssh_key_file: str | None = doc("Private SSH key for ssh:// and git@ URLs.", default=None)
    known_hosts_file: str | None = doc("known_hosts file for SSH host key checking.", default=None)
    username: str | None = doc("User name for https:// URLs.", default=None)
    password_file: str | None = doc(
        "File holding the password or token for https://.", default=None
    )
    password_env: str | None = doc("Environment variable holding it instead.", default=None)


@dataclass(frozen=True)
class NotifyConfig:
    """One notification target."""

    type: Literal["slack", "webhook"] = doc("slack (incoming webhook) or webhook (generic JSON).")
    url: str | None = doc("Webhook URL.", default=None)
    url_file: str | None = doc(
        "File holding the webhook URL (it often embeds a secret).", default=None
    )
    on: list[Literal["update", "failure"]] = doc(
        "Which events to send: update (the bot committed, pushed or opened a pull request), "
        "failure (a failure seen in service.failure_cycles consecutive cycles, and again "
        "when it clears). Default: both.",
        default_factory=lambda: ["update", "failure"],
    )


@dataclass(frozen=True)
class RepositoryConfig:
    """One GitOps repository the bot keeps up to date."""

    url: str | None = doc(
        "Git URL (https://, ssh://, git@host:path, file://). Either url or path.", default=None
    )
    path: str | None = doc("A local checkout, used in place.", default=None)
    name: str | None = doc(
        "Short name in logs, metrics and history (default: from url/path).", default=None
    )
    branch: str | None = doc(
        "Branch to read and update (default: the remote's HEAD).", default=None
    )
    include: list[str] = doc(
        "Globs of files to read, relative to the repository root.",
        default_factory=lambda: ["**/*.yaml", "**/*.yml", "**/Kustomization"],
    )
    exclude: list[str] = doc("Globs of files to skip.", default_factory=list)
    policy_dirs: list[str] = doc(
        "Directories (relative to the repository root, or absolute) holding imagebot "
        "ImagePolicy files that marker comments refer to; always read, whatever include and "
        "exclude say.",
        default_factory=lambda: ["policies"],
    )
    max_file_bytes: int = doc(
        "Largest manifest read, in bytes; larger files are reported as skipped, unread.",
        default=8 << 20,
    )
    write_mode: Literal["direct", "branch", "pull-request"] = doc(
        "direct: commit and push to the branch; branch: push to push_branch; "
        "pull-request: push to push_branch and open or update a pull request.",
        default="direct",
    )
    push_branch: str = doc(
        "Branch the bot owns in branch and pull-request modes (template: {branch}).",
        default="imagebot/{branch}",
    )
    commit: CommitConfig = doc("Commit settings.", default_factory=CommitConfig)
    pull_request: PullRequestConfig = doc(
        "Pull request settings.", default_factory=PullRequestConfig
    )
    credentials: GitCredentials = doc("Git credentials.", default_factory=GitCredentials)
    interval: Interval | None = doc(
        "Run an update cycle at least this often (default: service.cycle_interval).",
        default=None,
    )
    notify: list[NotifyConfig] = doc("Notification targets.", default_factory=list)
    divergence_after: Duration = doc(
        "With a reconciler receiver (service.webhooks of type flux or argocd): a change on the "
        "branch that no reconciler has reported applied this long after it landed makes its "
        "workload diverged (list-images --latest, the Deploy view, metrics, one notification "
        "when it starts and one when it clears).",
        default=Duration(15 * 60),
    )
    on_rollback: Literal["lock", "ignore"] = doc(
        "When a person's commit sets an image imagebot updated back to an earlier tag (a git "
        "revert, a manual edit): lock the workload in imagebot's next commit, with the message "
        "'rolled back by AUTHOR in SHA: SUBJECT', instead of applying the newer tag again "
        "(lock); or apply it again (ignore).",
        default="lock",
    )
    default_namespace: str | None = doc(
        "The namespace a namespaced workload without metadata.namespace lands in when no "
        "kustomization's namespace: covers its file (the namespace it is applied to), as "
        "in workload names: <namespace>:deployment/carts (default: default).",
        default=None,
    )

    def __post_init__(self) -> None:
        if self.max_file_bytes < 1:
            raise FieldError("max_file_bytes", "expected a whole number of bytes, at least 1")

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        source = (self.url or self.path or "repository").rstrip("/")
        tail = re.split(r"[/:]", source)[-1]
        return tail.removesuffix(".git") or source


@dataclass(frozen=True)
class WebhookReceiverConfig:
    """One webhook receiver, served at POST /hooks/<name>."""

    type: Literal[
        "dockerhub",
        "harbor",
        "quay",
        "github",
        "gitlab",
        "distribution",
        "generic",
        "flux",
        "argocd",
    ] = doc(
        "Payload format of the sender (distribution: a CNCF Distribution registry's "
        "notifications endpoint; flux: Flux notification-controller events, provider type "
        "generic or generic-hmac; argocd: Argo CD notifications with the README's template). "
        "flux and argocd report what reached the cluster."
    )
    secret: str | None = doc(
        "HMAC key (GitHub, generic signed, flux generic-hmac) or shared token (Docker Hub and "
        "Quay: ?token= in the URL; Harbor, GitLab, distribution: the Authorization header; "
        "generic, flux: either; argocd: the X-Imagebot-Token header). "
        "Required (one of secret, secret_file, secret_env).",
        default=None,
    )
    secret_file: str | None = doc("File holding the secret.", default=None)
    secret_env: str | None = doc("Environment variable holding the secret.", default=None)
    optional: bool = doc(
        "Serve this receiver only when its secret is there: with secret_env unset or empty "
        "or secret_file missing, it is left out with a warning (POST /hooks/<name> is 404) "
        "instead of stopping the service. For a Kubernetes Secret marked optional.",
        default=False,
    )


@dataclass(frozen=True)
class ServiceConfig:
    """Settings for `imagebot run`."""

    #: Old key -> its new name: still read, with a warning (`_convert_dataclass`).
    RENAMED: typing.ClassVar[dict[str, str]] = {"blocked_alert_after": "behind_alert_after"}

    listen: str = doc("Address and port of the HTTP endpoint.", default="0.0.0.0:8080")
    interval: Interval = doc(
        "Default polling interval for registries (every interval setting: at least 1s).",
        default=Interval(300),
    )
    jitter: Duration = doc("Random delay added to each scheduled scan.", default=Duration(30))
    cycle_interval: Interval = doc(
        "Run each repository's update cycle at least this often.", default=Interval(300)
    )
    shutdown_timeout: Duration = doc(
        "How long SIGTERM waits for a cycle in flight before abandoning it.", default=Duration(30)
    )
    behind_alert_after: Duration = doc(
        "A workload with an update available but blocked this long (locked, not matching its "
        "policy, failing) is counted as behind (imagebot_workloads_behind). Formerly "
        "blocked_alert_after, still read with a warning.",
        default=Duration(86400),
    )
    max_body_bytes: int = doc("Largest webhook body accepted.", default=1 << 20)
    max_connections: int = doc(
        "Open HTTP connections at most; at the cap a new connection evicts the one that has "
        "waited longest for its request (so /healthz answers through a flood of slow clients).",
        default=100,
    )
    request_timeout: Duration = doc(
        "Time a client has to send a request's headers and body, however slowly the bytes "
        "trickle; then 408 and the connection is closed.",
        default=Duration(10),
    )
    webhook_replay_window: Duration = doc(
        "Signed or identified webhook deliveries seen within this window are refused as "
        "replays (409), and so are deliveries the sender dated longer ago than it.",
        default=Duration(600),
    )
    webhooks: dict[str, WebhookReceiverConfig] = doc(
        "Webhook receivers by name.", default_factory=dict
    )
    failure_cycles: int = doc(
        "Notify a failure once it has happened in this many consecutive cycles (and once "
        "more when it clears).",
        default=2,
    )

    def __post_init__(self) -> None:
        for key in ("interval", "cycle_interval"):
            if getattr(self, key) <= 0:
                raise FieldError(key, f"{INTERVAL_RULE}, got {getattr(self, key)!r}")
        if self.failure_cycles < 1:
            raise FieldError("failure_cycles", "expected a whole number of at least 1")
        if self.max_body_bytes < 1:
            raise FieldError("max_body_bytes", "expected a whole number of at least 1")
        if self.max_connections < 2:
            raise FieldError("max_connections", "expected a whole number of at least 2")
        if self.request_timeout <= 0:
            raise FieldError("request_timeout", "expected a duration above 0, such as 10s")
        if self.webhook_replay_window <= 0:
            raise FieldError("webhook_replay_window", "expected a duration above 0, such as 10m")


@dataclass(frozen=True)
class WebConfig:
    """The Deploy view: pages and JSON API served by `imagebot run` at `/`."""

    enabled: bool = doc("Serve the pages and /api/v1/ on the service's port.", default=True)
    anonymous_read: bool = doc(
        "Let visitors who are not signed in read the pages and the API (never act).",
        default=False,
    )
    users_file: str | None = doc(
        "File of named tokens, one `user: sha256:<hex of the token>` per line (a mounted "
        "Secret); `printf %s TOKEN | sha256sum` gives the hex.",
        default=None,
    )
    proxy_user_header: str | None = doc(
        "Header a trusted reverse proxy sets to the signed-in user (oauth2-proxy: "
        "X-Forwarded-User); honoured only from trusted_proxies.",
        default=None,
    )
    trusted_proxies: list[str] = doc(
        "Addresses or networks (10.0.0.0/8) of the reverse proxies whose user header counts.",
        default_factory=list,
    )
    secure_cookies: bool = doc(
        "Mark the session cookie Secure (served over HTTPS, directly or by a proxy).",
        default=False,
    )
    session_lifetime: Duration = doc("How long a sign-in lasts.", default=Duration(12 * 3600))
    page_size: int = doc("Rows per page of the Workloads and History pages.", default=100)

    def __post_init__(self) -> None:
        import ipaddress

        for text in self.trusted_proxies:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise FieldError(
                    "trusted_proxies", f"{text!r} is not an address or network"
                ) from None
        if not 1 <= self.page_size <= 1000:
            raise FieldError("page_size", "expected a whole number from 1 to 1000")
        if self.proxy_user_header is not None and not self.trusted_proxies:
            raise FieldError("proxy_user_header", "needs trusted_proxies as well")


@dataclass(frozen=True)
class StateConfig:
    """Where the state store lives when it is not the SQLite file in state_dir."""

    url: str | None = doc(
        "PostgreSQL database for the store (postgresql://user@host:5432/imagebot): what "
        "several replicas share. Default: the SQLite file in state_dir. Prefer url_env when "
        "the URL holds a password.",
        default=None,
    )
    url_env: str | None = doc(
        "Environment variable holding that URL instead (a Kubernetes Secret).", default=None
    )
    pool_size: int = doc("Most connections to PostgreSQL per process.", default=8)
    stalled_after: Duration = doc(
        "A replica whose job queue heartbeat is this old is taken for dead: any other "
        "replica queues its scans and cycles again.",
        default=Duration(60),
    )
    poll_interval: Duration = doc(
        "How often each replica looks for queued jobs when no notification woke it.",
        default=Duration(5),
    )

    def __post_init__(self) -> None:
        if self.url is not None and self.url_env is not None:
            raise FieldError("url", "give url or url_env, not both")
        if self.url is not None and not _database_url(self.url):
            raise FieldError("url", "expected a postgresql:// URL")
        if not 1 <= self.pool_size <= 100:
            raise FieldError("pool_size", "expected a whole number from 1 to 100")
        if self.stalled_after < 3:
            raise FieldError("stalled_after", "expected at least 3s")

    def resolved_url(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The database URL, or None for the SQLite store; ConfigError when url_env names
        a variable that is unset or no postgresql:// URL (its value is never shown)."""
        if self.url_env is None:
            return self.url
        value = (os.environ if environ is None else environ).get(self.url_env, "").strip()
        if not value:
            raise ConfigError(
                f"environment variable {self.url_env} is not set or empty", key="state.url_env"
            )
        if not _database_url(value):
            raise ConfigError(
                f"environment variable {self.url_env} holds no postgresql:// URL",
                key="state.url_env",
            )
        return value


def _database_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True)
class VerifierConfig:
    """Keys that may sign images (the key in ``verifiers:`` is the name policies refer to)."""

    public_keys: list[str] = doc(
        "cosign public keys as PEM text (ECDSA P-256 or Ed25519): a signature by any of them "
        "counts.",
        default_factory=list,
    )
    public_key_files: list[str] = doc(
        "Files holding cosign public keys (PEM), e.g. cosign.pub.", default_factory=list
    )

    def __post_init__(self) -> None:
        if not self.public_keys and not self.public_key_files:
            raise FieldError("public_keys", "a verifier needs public_keys or public_key_files")


@dataclass(frozen=True)
class GatesConfig:
    """Supply-chain gates every automated image passes unless its policy says otherwise."""

    min_age: str | None = doc(
        "Minimum age of a candidate tag's digest before it is written, e.g. 3d or 12h "
        "(policies: minAge, imagebot.io/min-age.<container>).",
        default=None,
    )
    age_source: Literal["seen", "created"] = doc(
        "Where the age counts from: seen (when imagebot first saw the tag's digest; cannot "
        "be backdated) or created (the image config's created time, which its author sets).",
        default="seen",
    )
    platforms: list[str] = doc(
        "Platforms every candidate must offer, e.g. [linux/amd64, linux/arm64] (policies: "
        "platforms, imagebot.io/platforms.<container>).",
        default_factory=list,
    )
    verify: str | None = doc(
        "Name of a verifier (under verifiers:) whose keys must have signed every candidate "
        "(policies: verify, imagebot.io/verify.<container>).",
        default=None,
    )

    def __post_init__(self) -> None:
        from imagebot.errors import PolicyError
        from imagebot.policy.gates import parse_age, parse_platforms

        try:
            if self.min_age is not None:
                parse_age(self.min_age)
        except PolicyError as exc:
            raise FieldError("min_age", str(exc)) from None
        try:
            if self.platforms:
                parse_platforms(self.platforms)
        except PolicyError as exc:
            raise FieldError("platforms", str(exc)) from None


@dataclass(frozen=True)
class Config:
    """The whole configuration file."""

    state_dir: str | None = doc(
        f"Where the SQLite store and clones live (default: ${STATE_DIR_ENV}, else "
        "$XDG_STATE_HOME/imagebot, else ~/.local/state/imagebot).",
        default=None,
    )
    docker_config: str | None = doc(
        "Directory of a Docker config.json to read credentials from (default: $DOCKER_CONFIG, "
        "else ~/.docker).",
        default=None,
    )
    pull_secrets: list[str] = doc(
        "Registry credentials in Kubernetes dockerconfigjson Secrets mounted as files: each "
        "a file, or a directory holding .dockerconfigjson (or legacy .dockercfg).",
        default_factory=list,
    )
    tag_cache_ttl: Duration = doc(
        "How long a fetched tag list is reused before asking the registry again.",
        default=Duration(60),
    )
    digest_cache_ttl: Duration = doc(
        "How long the digest a tag pointed at is reused when reading build times for glob, "
        "regex and newest-build policies (webhooks and digest-pinned references always ask).",
        default=Duration(3600),
    )
    registries: dict[str, RegistryConfig] = doc(
        "Per-registry settings, by host (docker.io, ghcr.io, localhost:5000, ...).",
        default_factory=dict,
    )
    images: dict[str, ImageConfig] = doc("Per-image settings, by repository.", default_factory=dict)
    repositories: list[RepositoryConfig] = doc(
        "GitOps repositories to keep up to date.", default_factory=list
    )
    service: ServiceConfig = doc("Service mode settings.", default_factory=ServiceConfig)
    web: WebConfig = doc("The Deploy view (pages and JSON API).", default_factory=WebConfig)
    state: StateConfig = doc(
        "The state store on PostgreSQL, for several replicas (default: SQLite in state_dir).",
        default_factory=StateConfig,
    )
    gates: GatesConfig = doc(
        "Supply-chain gates applied to every site (minimum age, platforms, signatures).",
        default_factory=GatesConfig,
    )
    verifiers: dict[str, VerifierConfig] = doc(
        "Named sets of cosign public keys, for gates.verify and policies' verify.",
        default_factory=dict,
    )

    #: Where the config was read from (not a YAML key).
    source: str | None = field(default=None, compare=False, metadata={"internal": True})

    def __post_init__(self) -> None:
        if self.gates.verify is not None and self.gates.verify not in self.verifiers:
            known = ", ".join(sorted(self.verifiers)) or "none configured"
            raise FieldError("gates", f"verify: no verifier {self.gates.verify!r} ({known})")

    def registry(self, host: str) -> RegistryConfig:
        """Settings for *host*, or the defaults when it is not configured."""
        return self.registries.get(host) or self.registries.get(_alias(host)) or RegistryConfig()

    def resolved_state_dir(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir).expanduser()
        return default_state_dir()


def _alias(host: str) -> str:
    return {"index.docker.io": "docker.io", "registry-1.docker.io": "docker.io"}.get(host, host)


def default_state_dir() -> Path:
    env = os.environ.get(STATE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / "imagebot"


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the config from *path*, else ``$IMAGEBOT_CONFIG``, else defaults."""
    if path is None:
        path = os.environ.get(CONFIG_ENV) or None
    if path is None:
        return Config()
    file = os.fspath(path)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "no such file", file=file, hint=f"check the path given to --config or ${CONFIG_ENV}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=file) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", file=file) from None
    return parse_config(text, file=file)


def parse_config(text: str, *, file: str = "<config>") -> Config:
    """Validate YAML *text* into a :class:`Config`; errors name file, line and key."""
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="rt")
    try:
        data = yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, DuplicateKeyError):
            # ruamel's text quotes both values, and the key may be a password.
            key = re.match(r'found duplicate key "(.*?)" with value', problem or "")
            problem = f"duplicate key {key.group(1)!r}" if key else "duplicate key"
        raise ConfigError(f"not valid YAML: {problem}", file=file, line=line) from None
    if data is None:
        data = {}
    config = _convert(data, Config, _Where(file, "", data, None))
    return dataclasses.replace(config, source=file)


@dataclass(frozen=True)
class _Where:
    file: str
    key: str
    parent: Any
    name: Any

    def line(self) -> int | None:
        """Line of this key in the file, from ruamel's round-trip position data."""
        lc = getattr(self.parent, "lc", None)
        if lc is None:
            return None
        try:
            if self.name is None:
                return lc.line + 1
            if isinstance(self.parent, Mapping):
                return lc.key(self.name)[0] + 1
            return lc.item(self.name)[0] + 1
        except (KeyError, IndexError, TypeError, AttributeError):
            return lc.line + 1

    def child(self, container: Any, name: Any) -> _Where:
        if isinstance(name, int):
            key = f"{self.key}[{name}]"
        else:
            key = f"{self.key}.{name}" if self.key else str(name)
        return _Where(self.file, key, container, name)

    def error(self, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(
            message, file=self.file, line=self.line(), key=self.key or None, hint=hint
        )

    @property
    def secret(self) -> bool:
        """Whether the value here is (or is under) a secret: never shown in a message."""
        parts = re.split(r"[.\[\]]+", self.key)
        return any(part in SECRET_KEYS for part in parts)


_NoneType = type(None)

#: Keys whose values (and anything under them) never appear in an error message.
SECRET_KEYS = frozenset({"password", "token", "secret"})


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if tp is Interval:
        return "an interval of at least 1s, such as 30s, 5m or 1h"
    if tp is Duration:
        return "a duration such as 30s, 5m or 1h"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        if typing.get_origin(item) is Literal:
            return "a list of " + ", ".join(repr(a) for a in typing.get_args(item))
        return "a list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return str(tp)


def _convert(value: Any, tp: Any, where: _Where) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not _NoneType]
        if value is None:
            return None
        if len(args) == 1:
            return _convert(value, args[0], where)
        raise where.error(f"unsupported union type {tp}")  # pragma: no cover - schema bug
    if value is None:
        raise where.error(f"expected {_describe(tp)}, got nothing")
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(value, tp, where)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, str) and item_tp is str:
            value = [value]
        if not isinstance(value, list):
            raise where.error(f"expected a list, got {_show(value, where)}")
        return [_convert(v, item_tp, where.child(value, i)) for i, v in enumerate(value)]
    if origin is dict:
        _key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise where.error(f"expected a mapping, got {_show(value, where)}")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise where.child(value, k).error("keys must be strings")
            out[k] = _convert(v, val_tp, where.child(value, k))
        return out
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            hint = None if where.secret else _closest(str(value), [str(a) for a in allowed])
            raise where.error(f"expected {_describe(tp)}, got {_show(value, where)}", hint)
        return value
    if tp is Duration or tp is Interval:
        try:
            return tp.parse(value)
        except ValueError as exc:
            raise where.error("expected a duration" if where.secret else str(exc)) from None
    if tp is bool:
        if not isinstance(value, bool):
            raise where.error(f"expected true or false, got {_show(value, where)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise where.error(f"expected a whole number, got {_show(value, where)}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise where.error(f"expected a number, got {_show(value, where)}")
        if value < 0:
            raise where.error(f"expected a positive number, got {_show(value, where)}")
        return float(value)
    if tp is str:
        if isinstance(value, bool | int | float):
            # Unquoted 1.20 or true in YAML: a string was meant, but the YAML reading lost it.
            raise where.error(f"expected a string, got {_show(value, where)}", "quote the value")
        if not isinstance(value, str):
            raise where.error(f"expected a string, got {_show(value, where)}")
        return str(value)
    raise where.error(f"unsupported type {tp}")  # pragma: no cover - schema bug


def _convert_dataclass(value: Any, tp: Any, where: _Where) -> Any:
    if not isinstance(value, Mapping):
        raise where.error(f"expected a mapping, got {_show(value)}")
    hints = typing.get_type_hints(tp)
    fields = {f.name: f for f in dataclasses.fields(tp) if not f.metadata.get("internal")}
    kwargs = {}
    renamed: dict[str, str] = getattr(tp, "RENAMED", {})
    for key, raw in value.items():
        child = where.child(value, key)
        if isinstance(key, str) and key in renamed:
            new = renamed[key]
            if new in value:
                raise child.error(f"give only {new!r} (the new name of {key!r})")
            log.warning(
                "%s: %s is deprecated: call it %s",
                f"{where.file}:{child.line()}" if child.line() else where.file,
                child.key,
                new,
            )
            kwargs[new] = _convert(raw, hints[new], child)
            continue
        if not isinstance(key, str) or key not in fields:
            hint = _closest(str(key), list(fields))
            raise child.error("unknown key", hint)
        kwargs[key] = _convert(raw, hints[key], child)
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and name not in kwargs:
            raise where.error(f"missing required key {name!r}")
    try:
        return tp(**kwargs)
    except FieldError as exc:
        child = where.child(value, exc.key) if exc.key in value else where
        raise child.error(str(exc)) from None
    except (TypeError, ValueError) as exc:  # pragma: no cover - __post_init__ validation
        raise where.error(str(exc)) from None


def _closest(word: str, choices: list[str]) -> str | None:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def _show(value: Any, where: _Where | None = None) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if where is not None and where.secret:
        return f"a {type(value).__name__} (value hidden: a secret)"
    return repr(value) if not isinstance(value, str) else f"'{value}'"


def iter_fields(tp: Any, prefix: str = "") -> typing.Iterator[tuple[str, str, str]]:
    """(key path, type description, doc) for every documented setting: the reference docs."""
    hints = typing.get_type_hints(tp)
    for f in dataclasses.fields(tp):
        if f.metadata.get("internal"):
            continue
        path = f"{prefix}{f.name}"
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not _NoneType]
        inner = args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) else hint
        yield path, _describe(inner), f.metadata.get("doc", "")
        origin = typing.get_origin(inner)
        if dataclasses.is_dataclass(inner):
            yield from iter_fields(inner, path + ".")
        elif origin is dict and dataclasses.is_dataclass(typing.get_args(inner)[1]):
            yield from iter_fields(typing.get_args(inner)[1], path + ".<name>.")
        elif origin is list and dataclasses.is_dataclass(typing.get_args(inner)[0]):
            yield from iter_fields(typing.get_args(inner)[0], path + "[].")
