"""The registry side of the supply-chain gates: facts about candidate tags, and the loop.

:mod:`imagebot.policy.gates` judges plain facts; this module gathers them, for the tags a
policy actually picks and nothing else: the candidate's digest (a ``HEAD``), when imagebot
first saw the tag at that digest (the store), its platforms and build time (cached by
digest forever), its signature verdict (cached by digest when valid) and, where a platform
could be lost, the current image's platforms.

:func:`gate` runs the loop for one decision: while the policy's pick is held by a gate, it
is rejected with the gates' reason and the policy decides again without it, up to
:data:`MAX_ROUNDS` candidates (then the current tag stays: a gate never lets a tag through
by default). A registry that fails as a whole stops the loop at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from imagebot.config import Config
from imagebot.errors import ConfigError, NotFound, RegistryError
from imagebot.manifests import ImageSite
from imagebot.policy import Decision
from imagebot.policy.gates import GateReport, Gates, TagFacts, evaluate, parse_age
from imagebot.reference import ImageReference
from imagebot.registry import RegistryClient
from imagebot.registry.cosign import SignatureReader, Verifier, load_verifier
from imagebot.registry.scanner import is_host_failure

#: Candidates checked per decision before giving up (each costs a few registry requests).
MAX_ROUNDS = 10


def gates_for(site: ImageSite, config: Config) -> Gates:
    """The site's own gates (annotations, policy file) over the config's defaults.

    Raises :class:`ConfigError` when the site names a verifier the config does not have.
    """
    defaults = config.gates
    age_text = site.min_age if site.min_age is not None else defaults.min_age
    platforms = site.platforms if site.platforms is not None else tuple(defaults.platforms)
    verify = site.verify or defaults.verify
    if verify is not None and verify not in config.verifiers:
        known = ", ".join(sorted(config.verifiers)) or "none configured"
        raise ConfigError(
            f"{site.file}:{site.line}: {site.workload} {site.container}: verify names the "
            f"verifier {verify!r}, which the config does not define (verifiers: {known})"
        )
    source = site.age_source or defaults.age_source
    return Gates(
        min_age=parse_age(age_text) or None if age_text else None,
        age_source="created" if source == "created" else "seen",
        platforms=tuple(platforms),
        keep_platforms=site.digest is not None or bool(platforms),
        verifier=verify,
    )


@dataclass
class Outcome:
    """What the gates did to one decision."""

    decision: Decision
    #: Each gated tag's report, in the order they were checked.
    reports: dict[str, GateReport] = field(default_factory=dict)

    @property
    def held(self) -> GateReport | None:
        """The best candidate the gates held back (the first checked that failed)."""
        return next((r for r in self.reports.values() if not r.passed), None)

    @property
    def passed(self) -> GateReport | None:
        return next((r for r in self.reports.values() if r.passed), None)


class FactFinder:
    """Gathers :class:`TagFacts` through one registry client, each (image, tag) once."""

    def __init__(self, client: RegistryClient, config: Config, now: datetime) -> None:
        self.client = client
        self.config = config
        self.now = now
        self.signatures = SignatureReader(client)
        self._facts: dict[tuple[str, str, Gates], TagFacts] = {}
        self._verifiers: dict[str, Verifier] = {}
        self._platforms: dict[tuple[str, str], tuple[str, ...] | None] = {}

    def verifier(self, name: str) -> Verifier:
        if name not in self._verifiers:
            entry = self.config.verifiers[name]
            base = Path(self.config.source).parent if self.config.source else Path.cwd()
            self._verifiers[name] = load_verifier(
                name, entry.public_keys, entry.public_key_files, base=base
            )
        return self._verifiers[name]

    async def facts(self, image: ImageReference, tag: str, gates: Gates) -> TagFacts:
        key = (image.repository, tag, gates)
        if key not in self._facts:
            self._facts[key] = await self._gather(image, tag, gates)
        return self._facts[key]

    async def _gather(self, image: ImageReference, tag: str, gates: Gates) -> TagFacts:
        try:
            digest = await self.client.get_digest(image, tag)
        except NotFound:
            return TagFacts(tag, error=f"{tag} is no longer in the registry")
        return await self.facts_of_digest(image, tag, digest, gates)

    async def facts_of_digest(
        self, image: ImageReference, tag: str, digest: str, gates: Gates
    ) -> TagFacts:
        """Facts about *tag* at *digest* (a digest already read, e.g. a moved pin)."""
        store = self.client.store
        first_seen = None
        if gates.min_age and gates.age_source == "seen":
            if store is None:
                return TagFacts(
                    tag, digest, error="no state store to remember when it was first seen"
                )
            first_seen = store.first_seen(image.repository, tag, digest, self.now)
        created: datetime | None = None
        platforms: tuple[str, ...] = ()
        if gates.needs_platforms or gates.age_source == "created":
            info = await self.client.image_info_by_digest(image, digest)
            created, platforms = info.created, tuple(info.platforms)
        signature = None
        if gates.verifier:
            signature = await self.signatures.check(image, digest, self.verifier(gates.verifier))
        return TagFacts(tag, digest, first_seen, created, platforms, signature)

    async def current_platforms(self, site: ImageSite) -> tuple[str, ...] | None:
        """What the running image offers: the pinned digest's platforms, else the tag's."""
        image = site.image
        if image is None:
            return None
        reference = site.digest or site.tag
        if reference is None:
            return None
        key = (image.repository, reference)
        if key not in self._platforms:
            try:
                if site.digest is not None:
                    info = await self.client.image_info_by_digest(image, site.digest)
                else:
                    info = await self.client.image_info(image, reference, fresh=False)
                self._platforms[key] = tuple(info.platforms) or None
            except NotFound:
                self._platforms[key] = None
        return self._platforms[key]


async def gate(
    site: ImageSite,
    image: ImageReference,
    gates: Gates,
    decision: Decision,
    redecide: Callable[[Mapping[str, str]], Decision],
    finder: FactFinder,
    *,
    picks: Callable[[Decision], str | None],
) -> Outcome:
    """Hold back the policy's picks the gates reject, deciding again without them.

    *picks* gives the tag a decision would write (None: nothing to check); *redecide* decides
    again with the held tags and their reasons. Registry errors other than a missing tag
    hold the candidate ("cannot decide"); one that failed the registry as a whole also ends
    the loop (re-raised for the caller to record).
    """
    outcome = Outcome(decision)
    held: dict[str, str] = {}
    current = site.tag
    platforms_now: tuple[str, ...] | None = None
    unreadable: str | None = None  # why the current image's platforms cannot be compared
    if gates.keep_platforms:
        try:
            platforms_now = await finder.current_platforms(site)
        except RegistryError as exc:
            if is_host_failure(exc):
                raise
            unreadable = f"the current image cannot be read: {exc.reason}"
    for _ in range(MAX_ROUNDS):
        candidate = picks(outcome.decision)
        if candidate is None or candidate == current or candidate in outcome.reports:
            return outcome
        try:
            facts = await finder.facts(image, candidate, gates)
        except RegistryError as exc:
            if is_host_failure(exc):
                raise
            facts = TagFacts(candidate, error=exc.reason)
        if unreadable is not None:
            facts = TagFacts(candidate, facts.digest, error=unreadable)
        report = evaluate(
            gates, facts, now=finder.now, current_platforms=platforms_now, current=current
        )
        outcome.reports[candidate] = report
        if report.passed:
            return outcome
        held[candidate] = f"held: {report.reason}"
        outcome.decision = redecide(held)
    last = picks(outcome.decision)
    if last is not None and last != current and last not in outcome.reports:
        # Out of rounds: nothing unchecked is ever written, the current tag stays.
        stays = f"{current} stays" if current else "nothing is written"
        reason = (
            f"no tag passed the gates among the {MAX_ROUNDS} best ({gates.describe()}); {stays}"
        )
        d = outcome.decision
        outcome.decision = Decision(current, d.current, False, reason, d.verdicts)
    return outcome
