"""The pull request API GitHub defined and Gitea/Forgejo copied, under ``/repos/{owner}/{repo}``.

Opening, editing, closing and commenting on a pull request and requesting its reviewers are
the same calls with the same fields on both, so they live here once. Finding the open pull
request and labelling it are not the same (GitHub filters the list by head branch and takes
label names; Gitea pages through every open one and takes label ids): each provider keeps
its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from imagebot.gitops.forge.base import Forge, PullRequest, PullRequestState


class ReposApi(Forge):
    #: The field of a listed pull request that is set once it is merged (GitHub lists only
    #: ``merged_at``; Gitea has a ``merged`` flag).
    merged_field: ClassVar[str]

    @property
    def _repo(self) -> str:
        return f"/repos/{self.project}"

    async def create(self, head: str, base: str, title: str, body: str) -> PullRequest:
        payload = {"head": head, "base": base, "title": title, "body": body}
        return self._parse(await self._request("POST", f"{self._repo}/pulls", json=payload))

    async def edit(self, pr: PullRequest, *, title: str, body: str) -> PullRequest:
        payload = {"title": title, "body": body}
        return await self._patch(pr, payload)

    async def close(self, pr: PullRequest) -> PullRequest:
        return await self._patch(pr, {"state": "closed"})

    async def _patch(self, pr: PullRequest, payload: dict[str, str]) -> PullRequest:
        path = f"{self._repo}/pulls/{pr.number}"
        return self._parse(await self._request("PATCH", path, json=payload))

    async def comment(self, pr: PullRequest, body: str) -> None:
        path = f"{self._repo}/issues/{pr.number}/comments"
        await self._request("POST", path, json={"body": body})

    async def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> None:
        """``org/team`` (or ``@org/team``) is requested as a team, anything else as a user."""
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

    def _parse(self, item: dict[str, Any]) -> PullRequest:
        state: PullRequestState
        if item.get(self.merged_field):
            state = "merged"
        else:
            state = "open" if item.get("state") == "open" else "closed"
        return PullRequest(
            number=int(item["number"]),
            url=item.get("html_url") or item.get("url", ""),
            title=item.get("title") or "",
            body=item.get("body") or "",
            head=item["head"]["ref"],
            base=item["base"]["ref"],
            state=state,
            labels=tuple(label["name"] for label in item.get("labels") or ()),
        )
