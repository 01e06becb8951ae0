"""What an update cycle keeps between processes: discovery's and the rewrites' caches.

``imagebot run`` keeps, per checkout, what discovery read by Git blob id
(:class:`~imagebot.manifests.DiscoveryCache`, with its last whole answer) and the last
rewrites with their diffs (:data:`~imagebot.update.changes.RewriteCache`), so a cycle over
an unchanged repository reads no manifest again. A new process (a second ``imagebot
scan``) would start without them; :class:`KeptCaches` keeps them in the state store (table
``cycle_caches``, one row per checkout), so that it starts where the last process stopped:

- :meth:`KeptCaches.load` is asked when the cycle has nothing in memory for a checkout;
- :meth:`KeptCaches.save` after each cycle, which writes only when the caches changed
  since they were loaded or saved (a steady-state cycle writes nothing).

Correctness first. The caches check their own keys: a file's result is used only for the
blob id Git reports for it now, the last answer only when every file, the walk's issues,
the default namespace and the repository URLs are the ones it was made from, a rewrite
only for the same blob and edits. What they cannot check is *how* their values were
made: a row is read only when its ``made_with`` (:func:`made_with`: imagebot's version,
:data:`FORMAT`, a fingerprint of imagebot's code, the Python and ruamel.yaml versions,
and the repository's ``max_file_bytes``) is the one this process would write. Anything
else (another version, a corrupt or truncated row, a type the caches do not hold) is
discarded with a debug log, and the cycle reads the files as it would without it. A
serialized form over :data:`MAX_BYTES` is not kept (said in the log).

Why pickle. The values are discovery's own dataclasses (drafts, policy indexes, sites,
parts, a few ruamel nodes), many of them private to the module that makes them and
changing with it; pickle stores them as they are, keeps the objects they share shared,
and builds them in C: discovery's last answer and 1,000 rewrites load in about 10-15 ms
with the collector paused, the per-file results (as many objects again, kept serialized
apart: :class:`_Entries`) only when a file changed. A format of our own would have to
follow every one of those types and build each object in Python. It is safe here because:

- the state store is imagebot's own local file in its state directory, written only by
  imagebot (whoever can write it can already change what imagebot does next: its history,
  tag cache and locks); a PostgreSQL store, shared over the network, keeps no cycle caches
  (:meth:`imagebot.store_pg.PostgresStore.put_cycle_cache`);
- repository bytes never become pickle opcodes: they are only ever values (str, int,
  bytes) inside our own dataclasses, which pickle writes length-prefixed;
- and as a second wall, the reader resolves only our own value types
  (:class:`_OwnTypes`: dataclasses and enums of ``imagebot.manifests``,
  ``imagebot.policy``, ``imagebot.reference``, ``imagebot.tag``,
  ``imagebot.update.changes`` and this module, and ruamel's node, tag and mark classes),
  so a row that names anything else (``os.system``, a builtin) fails to load like a
  corrupt one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import gc
import hashlib
import io
import logging
import os
import pickle
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imagebot
from imagebot.config import RepositoryConfig
from imagebot.manifests import DiscoveryCache
from imagebot.manifests.discovery import _FileResult
from imagebot.manifests.policyfiles import PolicyIndex
from imagebot.store import Store
from imagebot.update.changes import RewriteCache, _Rewritten

log = logging.getLogger(__name__)

#: The layout of the kept caches; bump it when what is pickled changes shape.
FORMAT = 1
#: A serialized form larger than this is not kept (the row is dropped instead).
MAX_BYTES = 64 << 20


#: The parts of imagebot whose code makes what the caches hold (relative to the package).
_MAKERS = (
    "manifests",
    "policy",
    "reference.py",
    "tag.py",
    "update/changes.py",
    "update/cyclecache.py",
)


@functools.cache
def _code_fingerprint() -> str:
    """Size and modification time of each module that makes what the caches hold: a
    checkout of imagebot whose code was edited (same version) does not read what the old
    code made."""
    top = Path(imagebot.__file__).parent
    found: list[str] = []
    pending = [str(top / part) for part in _MAKERS]
    while pending:
        path = pending.pop()
        if not path.endswith(".py"):
            with os.scandir(path) as listing:
                pending.extend(
                    e.path
                    for e in listing
                    if e.name.endswith(".py") or (e.is_dir() and e.name != "__pycache__")
                )
            continue
        stat = os.stat(path)
        found.append(f"{path[len(str(top)) :]}\0{stat.st_size}\0{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(found)).encode()).hexdigest()[:16]


def made_with(repo: RepositoryConfig) -> str:
    """Everything the kept caches' values depend on that their own keys do not cover."""
    import ruamel.yaml

    return (
        f"imagebot {imagebot.__version__}; format {FORMAT}; code {_code_fingerprint()}; "
        f"python {sys.version_info[0]}.{sys.version_info[1]}; "
        f"ruamel.yaml {ruamel.yaml.__version__}; max_file_bytes {repo.max_file_bytes}"
    )


#: Modules whose dataclasses and enums the caches hold (a prefix ending in "." covers a
#: package), and ruamel modules whose classes they hold (nodes kept by drafts).
_OURS = (
    "imagebot.manifests.",
    "imagebot.policy.",
    "imagebot.reference",
    "imagebot.tag",
    "imagebot.update.changes",
    "imagebot.update.cyclecache",
)
_RUAMEL = ("ruamel.yaml.nodes", "ruamel.yaml.tag", "ruamel.yaml.error")


class _OwnTypes(pickle.Unpickler):
    """An unpickler that resolves only the value types the caches hold."""

    def find_class(self, module: str, name: str) -> Any:
        ours = any(module == p or (p.endswith(".") and module.startswith(p)) for p in _OURS)
        if ours or module in _RUAMEL:
            found = super().find_class(module, name)
            if isinstance(found, type) and (
                module in _RUAMEL or dataclasses.is_dataclass(found) or issubclass(found, enum.Enum)
            ):
                return found
        raise pickle.UnpicklingError(f"{module}.{name}: not a type the cycle caches hold")


@dataclass
class _Seen:
    """What the caches of a checkout held when last loaded or saved: enough to tell whether
    a cycle changed them, without comparing their contents."""

    made_from: object  # the discovery cache's last answer's key
    rewrites: list[_Rewritten]  # the rewrite cache's values, in order (compared by identity)
    diffs: int  # how many of those had their diff text


def _seen(discovery: DiscoveryCache, rewrites: RewriteCache) -> _Seen:
    values = list(rewrites.values())
    return _Seen(
        discovery.last[0] if discovery.last is not None else None,
        values,
        sum(1 for v in values if v.diff.text is not None),
    )


def _unchanged(before: _Seen, discovery: DiscoveryCache, rewrites: RewriteCache) -> bool:
    """Whether the caches hold what they held at *before*. A discovery whose answer was made
    from the same files (path, blob id), walk issues, namespace and URLs kept the same
    results; the rewrite cache keeps the very objects it reused, in order."""
    values = list(rewrites.values())
    if len(values) != len(before.rewrites) or any(
        a is not b for a, b in zip(values, before.rewrites, strict=True)
    ):
        return False
    if sum(1 for v in values if v.diff.text is not None) != before.diffs:
        return False
    made_from = discovery.last[0] if discovery.last is not None else None
    return bool(made_from == before.made_from)


class KeptCaches:
    """Loads and saves the cycle caches of each checkout in *store* (see the module
    docstring); one per :class:`~imagebot.update.UpdateCycle`."""

    #: Whether this process has frozen what it holds for the collector (see :meth:`load`).
    _frozen = False

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: dict[str, _Seen] = {}
        #: How many times caches were loaded and saved (for tests and the bench).
        self.loads = 0
        self.saves = 0

    def load(
        self, checkout: str, repo: RepositoryConfig
    ) -> tuple[DiscoveryCache, RewriteCache] | None:
        """The caches kept for *checkout*, or None (none kept, or not usable: debug log)."""
        try:
            row = self.store.get_cycle_cache(checkout)
        except Exception as exc:  # a busy or damaged store: the cycle reads the files
            log.debug("%s: cycle caches not read from the store: %s", checkout, exc)
            return None
        if row is None:
            return None
        written_with, data = row
        wanted = made_with(repo)
        if written_with != wanted:
            log.debug(
                "%s: cycle caches ignored: written by %r, this is %r",
                checkout,
                written_with,
                wanted,
            )
            return None
        try:
            with _collector_paused():
                discovery, rewrites, entries = _checked(_OwnTypes(io.BytesIO(data)).load())
        except Exception as exc:
            log.debug("%s: cycle caches ignored, unreadable: %s", checkout, exc)
            return None
        if entries.keys is None:
            discovery.entries = _entries(checkout, entries.data)
        else:
            discovery.entries = dict.fromkeys(entries.keys, _STAND_IN)
            discovery.unread = functools.partial(_entries, checkout, entries.data)
        if not KeptCaches._frozen:
            # What was just read lives as long as the process, as do the modules imported
            # before it: moved out of the collector's sight, the first full collection of a
            # new process (tens of ms for 1,000 files) does not walk them all. Once per
            # process, so that little garbage can be frozen with them (discovery's values
            # are acyclic dataclasses: reference counting frees them when replaced).
            KeptCaches._frozen = True
            gc.freeze()
        self._seen[checkout] = _seen(discovery, rewrites)
        self.loads += 1
        return discovery, rewrites

    def save(
        self,
        checkout: str,
        repo: RepositoryConfig,
        discovery: DiscoveryCache,
        rewrites: RewriteCache,
    ) -> bool:
        """Keep the caches of *checkout* unless they are what was loaded or saved last;
        whether it wrote. Never raises: a cache not kept only costs the next process time."""
        before = self._seen.get(checkout)
        if discovery.last is None or (
            before is not None and _unchanged(before, discovery, rewrites)
        ):
            return False
        try:
            data = _dumps(discovery, rewrites)
        except Exception as exc:  # pragma: no cover - our own dataclasses always pickle
            log.info("%s: cycle caches not kept, cannot serialize them: %s", checkout, exc)
            return False
        try:
            if len(data) > MAX_BYTES:
                log.info(
                    "%s: cycle caches not kept: %d bytes serialized, over the %d-byte limit; "
                    "a new process reads the repository again",
                    checkout,
                    len(data),
                    MAX_BYTES,
                )
                self.store.forget_cycle_cache(checkout)
            else:
                self.store.put_cycle_cache(checkout, made_with(repo), data)
        except Exception as exc:
            log.info("%s: cycle caches not kept in the store: %s", checkout, exc)
            return False
        self._seen[checkout] = _seen(discovery, rewrites)
        self.saves += 1
        return True


#: What stands for a file's result until the real ones are read: a file without Argo CD
#: documents (which is all that tells whether discovery's last answer still holds).
_STAND_IN = _FileResult(drafts=[], policies=PolicyIndex(), issues=[])


@dataclass(frozen=True)
class _Entries:
    """Discovery's per-file results, serialized apart from the rest: a cycle over an
    unchanged repository gets discovery's last answer without building them. ``keys`` is
    None when a file holds Argo CD documents (the last answer is then never reused, so
    they are read with the rest)."""

    keys: list[tuple[str, str, int]] | None
    data: bytes


def _dumps(discovery: DiscoveryCache, rewrites: RewriteCache) -> bytes:
    if discovery.unread is not None:  # still stand-ins: keep the real results
        discovery.entries, discovery.unread = discovery.unread(), None
    entries = discovery.entries
    argo = any(found.argo for found in entries.values())
    head = dataclasses.replace(discovery, entries={}, files_parsed=0, reused=False)
    part = _Entries(
        None if argo else list(entries),
        pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL),
    )
    return pickle.dumps((FORMAT, head, rewrites, part), protocol=pickle.HIGHEST_PROTOCOL)


def _entries(checkout: str, data: bytes) -> dict[tuple[str, str, int], _FileResult]:
    """The per-file results kept for *checkout*; none (every file is read) when they do not
    load."""
    try:
        with _collector_paused():
            found = _OwnTypes(io.BytesIO(data)).load()
        if not isinstance(found, dict) or not all(
            isinstance(k, tuple) and isinstance(v, _FileResult) for k, v in found.items()
        ):
            raise ValueError("not discovery results")
    except Exception as exc:
        log.debug("%s: kept discovery results ignored, unreadable: %s", checkout, exc)
        return {}
    return found


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Tens of thousands of objects are made, none of them garbage: the collector would
    only walk them again and again."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _checked(payload: object) -> tuple[DiscoveryCache, RewriteCache, _Entries]:
    """The caches in a loaded payload; ValueError when it is not what :meth:`save` writes."""
    if not (isinstance(payload, tuple) and len(payload) == 4 and payload[0] == FORMAT):
        raise ValueError("not a cycle cache payload")
    _, discovery, rewrites, entries = payload
    if not isinstance(discovery, DiscoveryCache) or not isinstance(entries, _Entries):
        raise ValueError("no discovery cache in it")
    if not isinstance(rewrites, dict) or not all(
        isinstance(k, tuple) and isinstance(v, _Rewritten) for k, v in rewrites.items()
    ):
        raise ValueError("no rewrite cache in it")
    return discovery, rewrites, entries
