"""Two Delta tables that commit together, and the versions one run reads.

Delta has no transaction across two tables, so a pair of stores (the gold feature and label
stores; the predictions and scored-feature stores) keeps these rules:

- **Both validated before either commits.** The first of the pair's two saves in a run is
  *staged* (held, already validated by the catalog's validator); the second save commits
  both. A run whose feature store fails validation, or that dies before its second save,
  commits nothing anywhere.
- **The record store commits last, naming its partner's version.** Its commit carries
  ``{"pair": {"version": <partner version>}}``: the project reads the record store's latest
  version and the partner version it names, so a run killed between the two commits (a few
  milliseconds) is read as if it never happened. A Delta reader of the partner alone sees
  its new version, which is validated data of a run whose pair did not land.
- **One run, one pair of versions.** The first load of a run pins the pair's versions; every
  later load of the run reads them (time travel), and the run's own commit moves the pin to
  what it wrote. The versions are recorded in the snapshot's metadata.

The state is per process and per run: ``start_new_run`` (run_hooks) clears it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class _RunState:
    #: pair -> identity -> (store, data) of a save waiting for its partner's.
    staged: dict[frozenset[str], dict[str, tuple[Any, Any]]] = field(
        default_factory=dict
    )
    #: pair -> identity -> the version this run reads (None: never written).
    reads: dict[frozenset[str], dict[str, int | None]] = field(default_factory=dict)


_RUN = _RunState()


def start_new_run() -> None:
    """Forget the previous run's staged saves and pinned versions."""
    _RUN.staged.clear()
    _RUN.reads.clear()


def stage(pair: frozenset[str], identity: str, store: Any, data: Any) -> None:
    _RUN.staged.setdefault(pair, {})[identity] = (store, data)


def take_staged(pair: frozenset[str], identity: str) -> tuple[Any, Any] | None:
    """The partner's staged save (``identity``), removed from the run's state."""
    return _RUN.staged.get(pair, {}).pop(identity, None)


def unpaired_saves() -> list[str]:
    """The stores saved in this run whose partner never was (nothing was committed)."""
    return [
        store.shown_path
        for waiting in _RUN.staged.values()
        for store, _ in waiting.values()
    ]


def pinned(pair: frozenset[str]) -> dict[str, int | None] | None:
    return _RUN.reads.get(pair)


def pin(pair: frozenset[str], versions: dict[str, int | None]) -> None:
    _RUN.reads[pair] = dict(versions)
