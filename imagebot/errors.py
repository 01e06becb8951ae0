"""The exceptions imagebot raises on purpose.

Every error a user can cause or fix (a bad reference, policy, manifest, config key, an
unreachable registry, a rejected push) is an :class:`ImagebotError`. Its message is meant to be
shown as-is: it names the file, line, image or registry concerned. Anything else escaping is a
bug in imagebot.
"""

from __future__ import annotations


class ImagebotError(Exception):
    """Base class: a failure with a message fit for a user."""

    #: Exit status the CLI uses when this error ends a command.
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


# --- input that is wrong: usage or configuration (exit 2) --------------------------------


class InvalidInput(ImagebotError, ValueError):
    """Something the user wrote cannot be accepted."""

    exit_code = 2


class InvalidReference(InvalidInput):
    """An image reference that does not follow the distribution reference grammar."""


class InvalidTag(InvalidInput):
    """A tag outside the OCI grammar ``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``."""


class PolicyError(InvalidInput):
    """A policy string, filter regex, extract template or constraint that cannot be used."""


class ConfigError(InvalidInput):
    """A configuration file that is unreadable or invalid; the message names file, line and key."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        if key:
            where += f"{key}: "
        super().__init__(where + message, hint=hint)
        self.reason = message  # without file, line and key
        self.file = file
        self.line = line
        self.key = key


# --- the outside world failed (exit 1) --------------------------------------------------


class ManifestError(ImagebotError):
    """A manifest or policy file that cannot be read or used."""

    def __init__(self, message: str, *, file: str, line: int | None = None) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
        self.reason = message


class RegistryError(ImagebotError):
    """A registry could not answer for a repository."""

    def __init__(self, message: str, *, registry: str, repository: str | None = None) -> None:
        where = f"{registry}/{repository}" if repository else registry
        super().__init__(f"{where}: {message}")
        self.registry = registry
        self.repository = repository
        self.reason = message


class Unauthorized(RegistryError):
    """The registry refused our credentials (or wanted some we do not have)."""


class NotFound(RegistryError):
    """The repository, tag or manifest does not exist."""


class Unreachable(RegistryError):
    """Connection, TLS or timeout failures that outlasted the retries."""


class RateLimited(RegistryError):
    """The registry kept answering 429 after the retries."""


class IncompleteTagList(RegistryError):
    """A tag list could not be read to its end; a partial list is never used."""


class MalformedAnswer(RegistryError):
    """A registry answered something the API does not allow (not JSON, wrong types, nested
    too deep, too large); the message names the URL."""


class GitError(ImagebotError):
    """A Git operation failed (clone, fetch, commit, push)."""


class PushRejected(GitError):
    """The remote refused a push because the branch moved; fetch and recompute."""


class LocalChanges(GitError):
    """A local checkout has uncommitted changes in files the bot needs to write."""

    def __init__(self, message: str, *, paths: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.paths = paths


class ForgeError(ImagebotError):
    """A GitHub/GitLab/Gitea API call failed."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        #: HTTP status of the failed call, None for transport failures.
        self.status = status


class StoreError(ImagebotError):
    """The state store cannot be opened, is corrupt, or is from a newer imagebot."""

    def __init__(self, message: str, *, hint: str | None = None, corrupt: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.corrupt = corrupt
