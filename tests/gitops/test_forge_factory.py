"""Which forge, which API URL, which project and which token, from the repository URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.config import GitCredentials, PullRequestConfig
from imagebot.errors import ConfigError
from imagebot.gitops.forge import Gitea, GitHub, GitLab, forge_for, guess_provider, resolve_token

WITH_TOKEN = PullRequestConfig(token="t0ken-value")


@pytest.mark.parametrize(
    ("url", "kind", "api", "project"),
    [
        ("https://github.com/octo/app.git", GitHub, "https://api.github.com", "octo/app"),
        ("git@github.com:octo/app.git", GitHub, "https://api.github.com", "octo/app"),
        ("https://github.corp.test/o/a", GitHub, "https://github.corp.test/api/v3", "o/a"),
        ("https://gitlab.com/g/sub/app.git", GitLab, "https://gitlab.com/api/v4", "g/sub/app"),
        (
            "ssh://git@gitlab.corp.test:2222/g/app",
            GitLab,
            "https://gitlab.corp.test/api/v4",
            "g/app",
        ),
        ("https://codeberg.org/o/a.git", Gitea, "https://codeberg.org/api/v1", "o/a"),
        ("http://gitea.local:3000/o/a.git", Gitea, "http://gitea.local:3000/api/v1", "o/a"),
    ],
)
def test_forge_is_guessed_from_the_url(url: str, kind: type, api: str, project: str) -> None:
    forge = forge_for(url, WITH_TOKEN)
    assert type(forge) is kind
    assert (forge.api_url, forge.project) == (api, project)


def test_settings_override_the_guess() -> None:
    config = PullRequestConfig(
        provider="gitea", api_url="https://git.test/api/v1/", project="team/app", token="t0ken"
    )
    forge = forge_for("https://git.test/x/y.git", config)
    assert type(forge) is Gitea
    assert (forge.api_url, forge.project) == ("https://git.test/api/v1", "team/app")


def test_unknown_host_needs_the_provider() -> None:
    assert guess_provider("git.example.test") is None
    with pytest.raises(ConfigError, match="cannot tell which forge"):
        forge_for("https://git.example.test/o/a.git", WITH_TOKEN)


def test_github_project_must_be_owner_and_name() -> None:
    with pytest.raises(ConfigError, match="project"):
        forge_for("https://github.com/just-one.git", WITH_TOKEN)


def test_token_sources_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    monkeypatch.setenv("PR_TOKEN", "from-env")
    assert resolve_token(PullRequestConfig(token="inline", token_file=str(token_file))) == "inline"
    assert resolve_token(PullRequestConfig(token_file=str(token_file))) == "from-file"
    assert resolve_token(PullRequestConfig(token_env="PR_TOKEN")) == "from-env"
    git_creds = GitCredentials(password_file=str(token_file))
    assert resolve_token(PullRequestConfig(), git_creds) == "from-file"


def test_missing_token_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PR_TOKEN_UNSET", raising=False)
    with pytest.raises(ConfigError, match="needs an API token"):
        resolve_token(PullRequestConfig())
    with pytest.raises(ConfigError, match="PR_TOKEN_UNSET"):
        resolve_token(PullRequestConfig(token_env="PR_TOKEN_UNSET"))


def test_token_is_not_in_the_clients_repr() -> None:
    assert "t0ken-value" not in repr(forge_for("https://github.com/o/a", WITH_TOKEN))
