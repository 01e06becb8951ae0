"""GitHub (and GitHub Enterprise Server) REST API v3 pull requests.

Labels are set through the issues API (a pull request is an issue there); reviewers given as
``org/team`` (or ``@org/team``) are requested as teams.
"""

from __future__ import annotations

from collections.abc import Sequence

from imagebot.gitops.forge.base import PullRequest
from imagebot.gitops.forge.repos_api import ReposApi


class GitHub(ReposApi):
    provider = "github"
    merged_field = "merged_at"

    def _auth_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    async def find_open(self, head: str, base: str) -> PullRequest | None:
        owner = self.project.split("/", 1)[0]
        params = {"state": "open", "head": f"{owner}:{head}", "base": base, "per_page": 100}
        for item in await self._request("GET", f"{self._repo}/pulls", params=params):
            pr = self._parse(item)
            if pr.head == head and pr.base == base:
                return pr
        return None

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        path = f"{self._repo}/issues/{pr.number}/labels"
        await self._request("POST", path, json={"labels": list(labels)})
