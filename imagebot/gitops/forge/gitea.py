"""Gitea and Forgejo (API v1) pull requests.

The pulls list has no head-branch filter in older versions, so open pull requests are paged
through (50 a page, at most 20 pages). Labels are set by id: names are looked up in the
repository's labels, and a name that does not exist there is reported, not created. The rest
is GitHub's API (:mod:`~imagebot.gitops.forge.repos_api`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imagebot.errors import ForgeError
from imagebot.gitops.forge.base import PullRequest
from imagebot.gitops.forge.repos_api import ReposApi

PAGE = 50
MAX_PAGES = 20


class Gitea(ReposApi):
    provider = "gitea"
    merged_field = "merged"

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self._token}"}

    async def _pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            batch = await self._request("GET", path, params={**params, "page": page, "limit": PAGE})
            items += batch or []
            if not batch or len(batch) < PAGE:
                break
        return items

    async def find_open(self, head: str, base: str) -> PullRequest | None:
        for item in await self._pages(f"{self._repo}/pulls", {"state": "open"}):
            repo = ((item.get("head") or {}).get("repo") or {}).get("full_name")
            if repo and repo.lower() != self.project.lower():
                continue  # same branch name in a fork
            pr = self._parse(item)
            if pr.head == head and pr.base == base:
                return pr
        return None

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        known = {
            item["name"]: int(item["id"]) for item in await self._pages(f"{self._repo}/labels", {})
        }
        ids = [known[name] for name in labels if name in known]
        if ids:
            path = f"{self._repo}/issues/{pr.number}/labels"
            await self._request("POST", path, json={"labels": ids})
        missing = [name for name in labels if name not in known]
        if missing:
            raise ForgeError(f"{self.name}: no such label(s): {', '.join(missing)}")
