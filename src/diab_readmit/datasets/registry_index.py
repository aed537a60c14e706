"""What a registry's indexes must say, as pure functions of its committed records.

``versions.json`` and ``latest/`` are derived from the committed versions (their
``metadata.json``) and promotions (their ``promotion.json``) alone; nothing here reads or
writes a file. :class:`~diab_readmit.datasets.registry_folder.RegistryFolder` lists the
records, calls these functions, and writes what :func:`index_repairs` says is stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import numpy as np

from diab_readmit.datasets.commit_protocol import commit_order_key

#: Gate decisions (``metadata["gate"]["decision"]``); only ``promoted`` makes a champion.
PROMOTED, REJECTED, HELD = "promoted", "rejected", "held"
#: A version's status in versions.json.
CHAMPION, RETIRED, CANDIDATE = "champion", "retired", "candidate"
#: What versions.json keeps of a version's gate record.
GATE_FIELDS = (
    "decision",
    "passed",
    "reasons",
    "compared_with",
    "paired",
    "paired_rows",
)
#: What versions.json keeps of a promotion, beside its version.
PROMOTION_FIELDS = ("promotion_id", "promoted_at", "promoted_by", "reason")


def json_default(value: Any) -> Any:
    """JSON for what metadata holds beside plain values: numpy scalars and arrays, dates."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def champion_and_statuses(
    entries: list[dict[str, Any]], promotions: Iterable[dict[str, Any]]
) -> tuple[str | None, dict[str, str]]:
    """The champion and every version's status, from the committed records alone.

    Events in order: each version (in id order) whose gate promoted it, and each promotion
    right after the newest version committed when it was made (``after_version``; ties in
    promotion-id order). The last event names the champion.

    Args:
        entries: ``versions.json`` entries of the committed versions, oldest first (``id``,
            ``gate``).
        promotions: committed promotion records (``promotion_id``, ``version_id``,
            ``after_version``).

    Returns:
        The champion's id (None when no version ever passed nor was promoted) and
        ``{version id: champion | retired | rejected | candidate}``.
    """
    position = {entry["id"]: number for number, entry in enumerate(entries)}
    events = [
        (number, 0, ("", 0), entry["id"])
        for number, entry in enumerate(entries)
        if (entry.get("gate") or {}).get("decision", PROMOTED) == PROMOTED
    ]
    for record in promotions:
        if record.get("version_id") not in position:
            continue
        after = record.get("after_version")
        stamp = commit_order_key(record["promotion_id"])
        place = (
            position[after]
            if after in position
            else sum(commit_order_key(e["id"]) <= stamp for e in entries) - 1
        )
        events.append((place, 1, stamp, record["version_id"]))
    champions = [version_id for *_, version_id in sorted(events)]
    champion = champions[-1] if champions else None
    statuses = {}
    for entry in entries:
        version_id = entry["id"]
        if version_id == champion:
            statuses[version_id] = CHAMPION
        elif version_id in champions:
            statuses[version_id] = RETIRED
        elif (entry.get("gate") or {}).get("decision") == REJECTED:
            statuses[version_id] = REJECTED
        else:
            statuses[version_id] = CANDIDATE
    return champion, statuses


def index_entry(metadata: dict[str, Any]) -> dict[str, Any]:
    """What versions.json keeps of a version: its immutable fields (status is derived)."""
    performance = metadata.get("performance") or {}
    gate = metadata.get("gate")
    return {
        "id": metadata["version_id"],
        "created_at": metadata.get("created_at"),
        "test_auc_roc": (performance.get("test") or {}).get("auc_roc"),
        "oot_auc_roc": (performance.get("oot") or {}).get("auc_roc"),
        "snapshot_id": metadata.get("snapshot_id"),
        # The raw file the version was trained on: versions of different raw files (the
        # demo's and a hospital's) are never one series.
        "raw_source": raw_source_of(metadata),
        "sha256": metadata.get("sha256"),
        "threshold": metadata.get("threshold"),
        "gate": None if gate is None else {key: gate.get(key) for key in GATE_FIELDS},
    }


def build_index(
    algorithm: str,
    entries: list[dict[str, Any]],
    promotions: list[dict[str, Any]],
) -> dict[str, Any]:
    """versions.json as the committed versions and promotions say it must read.

    Args:
        algorithm: the registry's algorithm.
        entries: :func:`index_entry` of every committed version, oldest first.
        promotions: every committed promotion record, oldest first.

    Returns:
        The index, exactly as it reads back from the JSON file (so comparing is exact).
    """
    entries = [
        {k: v for k, v in entry.items() if k not in ("status", "promotions")}
        for entry in entries
    ]
    champion, statuses = champion_and_statuses(entries, promotions)
    by_version: dict[str, list[dict[str, Any]]] = {}
    for record in promotions:
        by_version.setdefault(record["version_id"], []).append(
            {key: record.get(key) for key in PROMOTION_FIELDS}
        )
    for entry in entries:
        entry["status"] = statuses[entry["id"]]
        entry["promotions"] = by_version.get(entry["id"], [])
    index = {
        "algorithm": algorithm,
        "champion": champion,
        "latest": champion,
        "newest": entries[-1]["id"] if entries else None,
        "versions": entries,
        "promotions": promotions,
    }
    return json.loads(json.dumps(index, default=json_default))


def latest_holds(
    version_id: str,
    latest_metadata: dict[str, Any] | None,
    latest_model_sha256: str | None,
) -> bool:
    """Whether ``latest/`` holds ``version_id`` whole: its metadata names it and its
    model.pkl (``latest_model_sha256``, None when missing) matches that metadata."""
    return (
        latest_metadata is not None
        and latest_metadata.get("version_id") == version_id
        and latest_model_sha256 is not None
        and latest_model_sha256 == latest_metadata.get("sha256")
    )


def index_repairs(
    index: dict[str, Any], expected: dict[str, Any], latest_ok: bool
) -> list[str]:
    """What to rewrite so that the indexes say what the records say, in the order to write.

    Args:
        index: versions.json as read ({} when missing or damaged).
        expected: :func:`build_index` of the committed records.
        latest_ok: whether ``latest/`` holds the expected champion
            (:func:`latest_holds`); ignored when there is no champion, since then
            ``latest/`` is left as it is.

    Returns:
        ``"latest"`` and/or ``"index"``; empty when both are consistent.
    """
    repairs = []
    if expected["champion"] is not None and not latest_ok:
        repairs.append("latest")
    if index != expected:
        repairs.append("index")
    return repairs


def raw_source_of(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The raw file a version was trained on (``population.raw_source``): its sha256 and
    whether it is demo data, or None for versions registered before this was recorded."""
    source = (metadata.get("population") or {}).get("raw_source")
    if not source:
        return None
    return {key: source.get(key) for key in ("path", "sha256", "demo", "world")}
