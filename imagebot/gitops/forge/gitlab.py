"""GitLab REST API v4 merge requests.

The project is addressed by its URL-encoded path (``group%2Fsub%2Frepo``); reviewers are
given as user names and looked up (``GET /users?username=``) for the ids the API wants.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from imagebot.errors import ForgeError
from imagebot.gitops.forge.base import Forge, PullRequest, PullRequestState

#: GitLab's merge request states (anything else, "closed" or "locked", is closed).
_STATES: dict[str, PullRequestState] = {"opened": "open", "merged": "merged"}


class GitLab(Forge):
    provider = "gitlab"

    def _auth_headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self._token}

    @property
    def _mrs(self) -> str:
        return f"/projects/{quote(self.project, safe='')}/merge_requests"

    async def find_open(self, head: str, base: str) -> PullRequest | None:
        params = {"state": "opened", "source_branch": head, "target_branch": base}
        for item in await self._request("GET", self._mrs, params=params):
            pr = _parse(item)
            if pr.head == head and pr.base == base:
                return pr
        return None

    async def create(self, head: str, base: str, title: str, body: str) -> PullRequest:
        payload = {
            "source_branch": head,
            "target_branch": base,
            "title": title,
            "description": body,
            "remove_source_branch": True,
        }
        return _parse(await self._request("POST", self._mrs, json=payload))

    async def edit(self, pr: PullRequest, *, title: str, body: str) -> PullRequest:
        payload = {"title": title, "description": body}
        return _parse(await self._request("PUT", f"{self._mrs}/{pr.number}", json=payload))

    async def close(self, pr: PullRequest) -> PullRequest:
        payload = {"state_event": "close"}
        return _parse(await self._request("PUT", f"{self._mrs}/{pr.number}", json=payload))

    async def comment(self, pr: PullRequest, body: str) -> None:
        await self._request("POST", f"{self._mrs}/{pr.number}/notes", json={"body": body})

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        payload = {"add_labels": ",".join(labels)}
        await self._request("PUT", f"{self._mrs}/{pr.number}", json=payload)

    async def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> None:
        ids, unknown = [], []
        for name in reviewers:
            users = await self._request("GET", "/users", params={"username": name.lstrip("@")})
            if users:
                ids.append(int(users[0]["id"]))
            else:
                unknown.append(name)
        if ids:
            await self._request("PUT", f"{self._mrs}/{pr.number}", json={"reviewer_ids": ids})
        if unknown:
            raise ForgeError(f"{self.name}: no such user(s): {', '.join(unknown)}")


def _parse(item: dict[str, Any]) -> PullRequest:
    state = _STATES.get(item.get("state", ""), "closed")
    return PullRequest(
        number=int(item["iid"]),
        url=item.get("web_url", ""),
        title=item.get("title") or "",
        body=item.get("description") or "",
        head=item["source_branch"],
        base=item["target_branch"],
        state=state,
        labels=tuple(
            label if isinstance(label, str) else label.get("name", "")
            for label in item.get("labels") or ()
        ),
    )
