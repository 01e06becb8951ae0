"""Flux v2's tag filter: a regex that selects tags and a template that extracts a value.

``filterTags: {pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)', extract: '$ts'}`` keeps the tags
the regex matches (searched, not anchored) and hands the policy the expanded template
instead of the tag; the policy's answer is reported as the original tag. Without a template
the policy sees the tag itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from imagebot.errors import PolicyError
from imagebot.policy.goregex import Template, compile_go


@dataclass(frozen=True)
class TagFilter:
    pattern: str
    extract: str | None = None
    regex: re.Pattern[str] = field(repr=False, compare=False, default=re.compile(""))
    template: Template | None = field(repr=False, compare=False, default=None)

    @classmethod
    def create(cls, pattern: str, extract: str | None = None) -> TagFilter:
        """Compile *pattern* and check *extract* against its groups (PolicyError if wrong)."""
        regex = compile_go(pattern, "filter regex")
        template = Template.compile(extract, regex) if extract else None
        return cls(pattern, extract or None, regex, template)

    def value(self, tag: str) -> str | None:
        """The value the policy compares for *tag*, or None when the filter rejects it."""
        match = self.regex.search(tag)
        if match is None:
            return None
        return self.template.expand(match) if self.template else tag

    def describe(self) -> str:
        text = f"filter '{self.pattern}'"
        return f"{text} extract '{self.extract}'" if self.extract else text


def make_filter(pattern: str | None, extract: str | None) -> TagFilter | None:
    if extract and not pattern:
        raise PolicyError(
            f"extract {extract!r} needs a filter regex whose groups it names (--filter)"
        )
    return TagFilter.create(pattern, extract) if pattern else None
