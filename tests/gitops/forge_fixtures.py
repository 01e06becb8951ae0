"""Responses shaped like the forges' documented examples (trimmed to what matters)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
TOKEN = "forge-T0KEN-abcdef"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def no_sleep(seconds: float) -> None:
    return None


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def github_pr(
    number: int = 1347, *, head: str = "imagebot/main", base: str = "main", **extra: Any
) -> dict[str, Any]:
    pr = {
        "url": f"https://api.github.com/repos/octo/app/pulls/{number}",
        "id": 1,
        "html_url": f"https://github.com/octo/app/pull/{number}",
        "number": number,
        "state": "open",
        "locked": False,
        "title": "Update images",
        "user": {"login": "imagebot"},
        "body": "old body",
        "labels": [{"id": 208045946, "name": "bug", "color": "f29513", "default": True}],
        "head": {
            "label": f"octo:{head}",
            "ref": head,
            "sha": "6dcb09b5b5",
            "repo": {"full_name": "octo/app"},
        },
        "base": {
            "label": f"octo:{base}",
            "ref": base,
            "sha": "6dcb09b5b6",
            "repo": {"full_name": "octo/app"},
        },
        "merged_at": None,
        "draft": False,
    }
    pr.update(extra)
    return pr


def gitlab_mr(
    iid: int = 7, *, head: str = "imagebot/main", base: str = "main", **extra: Any
) -> dict[str, Any]:
    mr = {
        "id": 1,
        "iid": iid,
        "project_id": 3,
        "title": "Update images",
        "description": "old body",
        "state": "opened",
        "target_branch": base,
        "source_branch": head,
        "labels": ["dependencies"],
        "web_url": f"https://gitlab.example.test/group/sub/app/-/merge_requests/{iid}",
        "reviewers": [],
    }
    mr.update(extra)
    return mr


def gitea_pr(
    number: int = 3,
    *,
    head: str = "imagebot/main",
    base: str = "main",
    repo: str = "org/app",
    **extra: Any,
) -> dict[str, Any]:
    pr = {
        "id": 10,
        "number": number,
        "html_url": f"https://gitea.example.test/org/app/pulls/{number}",
        "state": "open",
        "title": "Update images",
        "body": "old body",
        "labels": [],
        "merged": False,
        "head": {"label": head, "ref": head, "sha": "abc", "repo": {"full_name": repo}},
        "base": {"label": base, "ref": base, "sha": "def", "repo": {"full_name": "org/app"}},
    }
    pr.update(extra)
    return pr
