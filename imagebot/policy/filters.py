"""Flux v2's tag filter: a regex that selects tags and a template that extracts a value.

``filterTags: {pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)', extract: '$ts'}`` keeps the tags
the regex matches (searched, not anchored) and hands the policy the expanded template
instead of the tag; the policy's answer is reported as the original tag. Without a template
the policy sees the tag itself. An ``ImageRepository``'s ``exclusionList`` (regexes, also
searched) drops the tags it matches before anything else looks at them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from imagebot.errors import PolicyError
from imagebot.policy.goregex import Template, compile_go

#: Flux's own bound on an ``exclusionList``.
MAX_EXCLUSIONS = 25


@dataclass(frozen=True)
class TagFilter:
    pattern: str | None
    extract: str | None = None
    regex: re.Pattern[str] | None = field(repr=False, compare=False, default=None)
    template: Template | None = field(repr=False, compare=False, default=None)
    exclude: tuple[str, ...] = ()
    exclude_regexes: tuple[re.Pattern[str], ...] = field(repr=False, compare=False, default=())

    @classmethod
    def create(
        cls, pattern: str | None, extract: str | None = None, exclude: Sequence[str] = ()
    ) -> TagFilter:
        """Compile *pattern* and *exclude* and check *extract* against the pattern's groups
        (PolicyError if wrong)."""
        if len(exclude) > MAX_EXCLUSIONS:
            raise PolicyError(f"exclusion list: {len(exclude)} entries, at most {MAX_EXCLUSIONS}")
        regex = compile_go(pattern, "filter regex") if pattern else None
        template = Template.compile(extract, regex) if extract and regex is not None else None
        excluded = tuple(compile_go(p, "exclusion regex") for p in exclude)
        return cls(pattern, extract or None, regex, template, tuple(exclude), excluded)

    def excluded_by(self, tag: str) -> str | None:
        """The exclusion pattern that drops *tag*, if one does."""
        for text, regex in zip(self.exclude, self.exclude_regexes, strict=True):
            if regex.search(tag):
                return text
        return None

    def value(self, tag: str) -> str | None:
        """The value the policy compares for *tag*, or None when the filter rejects it."""
        if self.exclude_regexes and self.excluded_by(tag) is not None:
            return None
        if self.regex is None:
            return tag
        match = self.regex.search(tag)
        if match is None:
            return None
        return self.template.expand(match) if self.template else tag

    def describe(self) -> str:
        words = []
        if self.pattern is not None:
            words.append(f"filter '{self.pattern}'")
        if self.extract:
            words.append(f"extract '{self.extract}'")
        if self.exclude:
            words.append("excluding " + ", ".join(f"'{p}'" for p in self.exclude))
        return " ".join(words)


def make_filter(
    pattern: str | None, extract: str | None, exclude: Sequence[str] = ()
) -> TagFilter | None:
    if extract and not pattern:
        raise PolicyError(
            f"extract {extract!r} needs a filter regex whose groups it names (--filter)"
        )
    return TagFilter.create(pattern, extract, exclude) if pattern or exclude else None
