"""Gitea and Forgejo (API v1) pull requests.

The pulls list has no head-branch filter in older versions, so open pull requests are paged
through (50 a page, at most 20 pages). Labels are set by id: names are looked up in the
repository's labels, and a name that does not exist there is reported, not created.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imagebot.errors import ForgeError
from imagebot.gitops.forge.base import Forge, PullRequest

PAGE = 50
MAX_PAGES = 20


class Gitea(Forge):
    provider = "gitea"

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self._token}"}

    @property
    def _repo(self) -> str:
        return f"/repos/{self.project}"

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
            pr = _parse(item)
            if pr.head == head and pr.base == base:
                return pr
        return None

    async def create(self, head: str, base: str, title: str, body: str) -> PullRequest:
        payload = {"head": head, "base": base, "title": title, "body": body}
        return _parse(await self._request("POST", f"{self._repo}/pulls", json=payload))

    async def edit(self, pr: PullRequest, *, title: str, body: str) -> PullRequest:
        payload = {"title": title, "body": body}
        return _parse(await self._request("PATCH", f"{self._repo}/pulls/{pr.number}", json=payload))

    async def close(self, pr: PullRequest) -> PullRequest:
        payload = {"state": "closed"}
        return _parse(await self._request("PATCH", f"{self._repo}/pulls/{pr.number}", json=payload))

    async def comment(self, pr: PullRequest, body: str) -> None:
        await self._request(
            "POST", f"{self._repo}/issues/{pr.number}/comments", json={"body": body}
        )

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

    async def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> None:
        users, teams = [], []
        for reviewer in reviewers:
            name = reviewer.lstrip("@")
            (teams if "/" in name else users).append(name.split("/", 1)[-1])
        payload = {"reviewers": users, "team_reviewers": teams}
        path = f"{self._repo}/pulls/{pr.number}/requested_reviewers"
        await self._request("POST", path, json=payload)


def _parse(item: dict[str, Any]) -> PullRequest:
    state = (
        "merged" if item.get("merged") else ("open" if item.get("state") == "open" else "closed")
    )
    return PullRequest(
        number=int(item["number"]),
        url=item.get("html_url") or item.get("url", ""),
        title=item.get("title") or "",
        body=item.get("body") or "",
        head=item["head"]["ref"],
        base=item["base"]["ref"],
        state=state,  # type: ignore[arg-type]
        labels=tuple(label["name"] for label in item.get("labels") or ()),
    )
