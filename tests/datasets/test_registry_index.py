"""registry_index: the champion replay and the index reconciliation, as pure functions."""

from __future__ import annotations

import numpy as np

from diab_readmit.datasets.registry_index import (
    build_index,
    champion_and_statuses,
    index_entry,
    index_repairs,
    latest_holds,
)


def _entry(version_id: str, decision: str | None = "promoted") -> dict:
    gate = None if decision is None else {"decision": decision}
    return {"id": version_id, "gate": gate}


def test_the_last_promoted_version_is_champion_and_earlier_ones_retired():
    entries = [
        _entry("v20260101_000000"),
        _entry("v20260102_000000", "rejected"),
        _entry("v20260103_000000"),
        _entry("v20260104_000000", "held"),
        _entry("v20260105_000000", None),  # registered before the gate existed
    ]
    champion, statuses = champion_and_statuses(entries, [])
    assert champion == "v20260105_000000"
    assert statuses == {
        "v20260101_000000": "retired",
        "v20260102_000000": "rejected",
        "v20260103_000000": "retired",
        "v20260104_000000": "candidate",
        "v20260105_000000": "champion",
    }


def test_a_promotion_sits_after_the_newest_version_of_its_time():
    entries = [_entry("v20260101_000000"), _entry("v20260102_000000")]
    rollback = {
        "promotion_id": "p20260103_000000",
        "version_id": "v20260101_000000",
        "after_version": "v20260102_000000",
    }
    assert champion_and_statuses(entries, [rollback])[0] == "v20260101_000000"
    # A version that passes the gate after the rollback takes over again.
    later = [*entries, _entry("v20260104_000000")]
    champion, statuses = champion_and_statuses(later, [rollback])
    assert champion == "v20260104_000000"
    assert statuses["v20260101_000000"] == "retired"
    # Without after_version the promotion is placed by its id's time.
    undated = {k: v for k, v in rollback.items() if k != "after_version"}
    assert champion_and_statuses(later, [undated])[0] == "v20260104_000000"
    # A promotion of a version that is not committed counts for nothing.
    ghost = {**rollback, "version_id": "v20200101_000000"}
    assert champion_and_statuses(entries, [ghost])[0] == "v20260102_000000"


def test_no_version_ever_promoted_means_no_champion():
    champion, statuses = champion_and_statuses(
        [_entry("v20260101_000000", "rejected")], []
    )
    assert champion is None and statuses == {"v20260101_000000": "rejected"}


def test_index_entry_keeps_the_immutable_fields_in_json_form():
    metadata = {
        "version_id": "v20260101_000000",
        "created_at": "2026-01-01T00:00:00+00:00",
        "performance": {"test": {"auc_roc": 0.7}, "oot": {"auc_roc": 0.68}},
        "snapshot_id": "train_data_20251231_000000",
        "sha256": "ab" * 32,
        "threshold": 0.3,
        "gate": {"decision": "rejected", "reasons": ["below floor"], "extra": 1},
    }
    entry = index_entry(metadata)
    assert entry["test_auc_roc"] == 0.7 and entry["oot_auc_roc"] == 0.68
    assert entry["gate"]["decision"] == "rejected" and "extra" not in entry["gate"]
    index = build_index(
        "xgboost",
        [{**entry, "threshold": np.float32(0.25), "status": "stale"}],
        [],
    )
    assert index["champion"] is None and index["newest"] == "v20260101_000000"
    assert index["versions"][0]["status"] == "rejected"  # derived, not the stale one
    assert isinstance(index["versions"][0]["threshold"], float)


def test_build_index_lists_promotions_under_their_version():
    entries = [
        index_entry({"version_id": "v20260101_000000"}),
        index_entry({"version_id": "v20260102_000000"}),
    ]
    promotion = {
        "promotion_id": "p20260103_000000",
        "version_id": "v20260101_000000",
        "after_version": "v20260102_000000",
        "promoted_by": "ana@host",
        "reason": "rollback",
        "promoted_at": "2026-01-03T00:00:00+00:00",
    }
    index = build_index("lr", entries, [promotion])
    assert index["champion"] == index["latest"] == "v20260101_000000"
    assert index["versions"][0]["promotions"][0]["reason"] == "rollback"
    assert index["versions"][1]["promotions"] == []
    assert index["promotions"] == [promotion]


def test_index_repairs_say_what_is_stale_and_in_which_order():
    expected = build_index("lr", [index_entry({"version_id": "v20260101_000000"})], [])
    assert index_repairs(expected, expected, latest_ok=True) == []
    assert index_repairs({}, expected, latest_ok=True) == ["index"]
    assert index_repairs(expected, expected, latest_ok=False) == ["latest"]
    assert index_repairs({}, expected, latest_ok=False) == ["latest", "index"]
    nobody = build_index("lr", [_entry("v20260101_000000", "rejected")], [])
    assert index_repairs(nobody, nobody, latest_ok=False) == []  # latest/ left alone


def test_latest_holds_only_a_whole_matching_copy():
    metadata = {"version_id": "v1", "sha256": "abc"}
    assert latest_holds("v1", metadata, "abc")
    assert not latest_holds("v2", metadata, "abc")
    assert not latest_holds("v1", metadata, "abd")
    assert not latest_holds("v1", metadata, None)
    assert not latest_holds("v1", None, "abc")
