"""The writer: Git workspaces (clone, fetch, commit, sign, push, retry) and forge clients.

No YAML here and no registry: callers hand in file contents and a message.

    with Workspace.open(repo_config, state_dir) as ws:
        published = ws.publish(compute, repo_config.commit, mode=repo_config.write_mode)

See :mod:`imagebot.gitops.workspace` for the guarantees (atomic commits, crash recovery, no
force-push to a user's branch) and :mod:`imagebot.gitops.forge` for pull requests.
"""

from imagebot.gitops.credentials import GitAuth, RemoteURL, parse_remote_url, redact
from imagebot.gitops.workspace import (
    DEFAULT_PUSH_BRANCH,
    Change,
    Published,
    Workspace,
    WriteMode,
    bot_branch_name,
    is_remote_url,
    validate_branch_name,
)

__all__ = [
    "DEFAULT_PUSH_BRANCH",
    "Change",
    "GitAuth",
    "Published",
    "RemoteURL",
    "Workspace",
    "WriteMode",
    "bot_branch_name",
    "is_remote_url",
    "parse_remote_url",
    "redact",
    "validate_branch_name",
]
