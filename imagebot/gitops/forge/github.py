"""GitHub (and GitHub Enterprise Server) REST API v3 pull requests.

Labels are set through the issues API (a pull request is an issue there); reviewers given as
``org/team`` (or ``@org/team``) are requested as teams.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imagebot.gitops.forge.base import Forge, PullRequest


class GitHub(Forge):
    provider = "github"

    def _auth_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    @property
    def _repo(self) -> str:
        return f"/repos/{self.project}"

    async def find_open(self, head: str, base: str) -> PullRequest | None:
        owner = self.project.split("/", 1)[0]
        params = {"state": "open", "head": f"{owner}:{head}", "base": base, "per_page": 100}
        for item in await self._request("GET", f"{self._repo}/pulls", params=params):
            pr = _parse(item)
            if pr.head == head and pr.base == base:
                return pr
        return None

    async def create(self, head: str, base: str, title: str, body: str) -> PullRequest:
        payload = {"title": title, "head": head, "base": base, "body": body}
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
        path = f"{self._repo}/issues/{pr.number}/labels"
        await self._request("POST", path, json={"labels": list(labels)})

    async def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> None:
        users, teams = [], []
        for reviewer in reviewers:
            name = reviewer.lstrip("@")
            if "/" in name:
                teams.append(name.split("/", 1)[1])
            else:
                users.append(name)
        payload = {"reviewers": users, "team_reviewers": teams}
        path = f"{self._repo}/pulls/{pr.number}/requested_reviewers"
        await self._request("POST", path, json=payload)


def _parse(item: dict[str, Any]) -> PullRequest:
    state = (
        "merged" if item.get("merged_at") else ("open" if item.get("state") == "open" else "closed")
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
