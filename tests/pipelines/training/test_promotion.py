"""The champion gate, promotion by hand and rollback, and concurrent registrations and
promotions: on real fitted models, the real registry dataset and real threads/processes."""

from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from kedro.io.core import DatasetError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline as SklearnPipeline

from diab_readmit.contracts import LABEL
from diab_readmit.datasets import model_registry
from diab_readmit.datasets.delta_store import DeltaTableStore
from diab_readmit.datasets.delta_views import GoldRowsLookupDataset
from diab_readmit.datasets.model_registry import (
    ModelRegistryChampionDataset,
    ModelRegistryDataset,
    ModelRegistryHistoryDataset,
    champion_and_statuses,
)
from diab_readmit.datasets.registry_promotion import (
    RegistryPromotionDataset,
    promote,
    promote_version,
)
from diab_readmit.datasets.registry_root import RegistryLocation
from diab_readmit.pipelines.training import evaluation
from diab_readmit.pipelines.training.promotion import (
    PromotionParams,
    attach_gate_decision,
    gate_challenger,
    gate_outcome,
)

from .conftest import gold_windows, make_snapshot

#: Gate settings that test non-inferiority alone (no floor can reject).
NO_FLOORS = PromotionParams(
    floors={"min_auc_roc": 0.0, "max_brier": 1.0, "max_ece": 1.0}
)


def _package(snapshot, quality: str) -> tuple[dict, dict]:
    """A registry bundle of a logistic regression and its TEST scores.

    ``good`` learns from the labels; ``worse`` from labels mostly shuffled (its ranking is
    weaker, still above chance); ``useless`` from fully shuffled labels.
    """
    features = snapshot.metadata["feature_columns"]
    train, test = snapshot.train, snapshot.test
    y = train[LABEL].to_numpy()
    rng = np.random.default_rng(3)
    if quality != "good":
        y = y.copy()
        share = 0.85 if quality == "worse" else 1.0
        chosen = rng.random(len(y)) < share
        y[chosen] = rng.permutation(y[chosen])
    classifier = LogisticRegression(max_iter=500).fit(train[features], y)
    model = SklearnPipeline(
        [("preprocess", snapshot.scaler), ("classifier", classifier)]
    )
    scores = {
        "y_true": test[LABEL].to_numpy(dtype=np.int8),
        "y_score": classifier.predict_proba(test[features])[:, 1],
    }
    metrics = evaluation.window_metrics(scores["y_true"], scores["y_score"], 0.2)
    metadata = {
        "model_name": "logistic_regression",
        "snapshot_id": snapshot.snapshot_id,
        "feature_columns": features,
        "performance": {"test": metrics, "oot": {"auc_roc": 0.5}},
        "threshold": 0.2,
    }
    return {"model": model, "metadata": metadata, "plots": {}}, scores


def _register(
    registry: ModelRegistryDataset,
    snapshot,
    quality: str,
    promotion: PromotionParams = NO_FLOORS,
    gold_rows=None,
) -> dict[str, Any]:
    """Gate a new model against the registry's champion and register it, as training does."""
    package, scores = _package(snapshot, quality)
    champion = ModelRegistryChampionDataset(path=registry._path).load()
    gate = gate_challenger(package, scores, snapshot, champion, gold_rows, promotion)
    registry.save(attach_gate_decision(package, gate))
    return gate


def _index(root) -> dict[str, Any]:
    return json.loads((root / "versions.json").read_text())


def test_a_worse_challenger_is_rejected_and_latest_is_unchanged(tmp_path, caplog):
    snapshot = make_snapshot()
    root = tmp_path / "logistic_regression"
    registry = ModelRegistryDataset(path=str(root))
    first = _register(registry, snapshot, "good")
    assert first["decision"] == "promoted" and first["compared_with"] is None
    champion = registry.committed_versions()[0]
    latest_before = {p.name: p.read_bytes() for p in (root / "latest").iterdir()}

    gate = _register(registry, snapshot, "worse")

    assert gate["decision"] == "rejected" and not gate["passed"]
    assert gate["paired"] and gate["paired_rows"] == len(snapshot.test)
    assert gate["compared_with"] == champion
    assert "worse" in gate["reasons"][0] and "auc_roc" in gate["reasons"][0]
    assert {
        p.name: p.read_bytes() for p in (root / "latest").iterdir()
    } == latest_before
    index = _index(root)
    rejected = registry.committed_versions()[1]
    assert index["champion"] == index["latest"] == champion
    assert index["newest"] == rejected
    assert [v["status"] for v in index["versions"]] == ["champion", "rejected"]
    assert index["versions"][1]["gate"]["reasons"] == gate["reasons"]
    assert registry.load()["version_id"] == champion
    # One line saying why and where the version is.
    lines = [r.getMessage() for r in caplog.records if "NOT promoted" in r.getMessage()]
    assert len(lines) == 1
    assert rejected in lines[0] and str(root / rejected) in lines[0]
    assert f"latest/ still holds {champion}" in lines[0]
    # The history view (reports, monitoring) sees the champion as latest.
    history = ModelRegistryHistoryDataset(path=str(root)).load()
    assert history["latest"]["version_id"] == champion == history["champion"]
    assert history["newest"]["version_id"] == rejected
    # What the training DAG's last task logs.
    outcome = gate_outcome(history)
    assert (outcome["newest"], outcome["status"], outcome["champion"]) == (
        rejected,
        "rejected",
        champion,
    )
    assert outcome["reasons"] == gate["reasons"]
    assert "REJECTED by the champion gate" in outcome["message"]
    assert f"latest/ still holds {champion}" in outcome["message"]


def test_a_better_challenger_is_promoted_and_floors_reject_alone(tmp_path):
    snapshot = make_snapshot()
    root = tmp_path / "logistic_regression"
    registry = ModelRegistryDataset(path=str(root))
    _register(registry, snapshot, "worse")
    gate = _register(registry, snapshot, "good")
    assert gate["decision"] == "promoted" and gate["paired"]
    assert gate["paired_metric"]["challenger"] > gate["paired_metric"]["champion"]
    first, second = registry.committed_versions()
    assert registry.load()["version_id"] == second
    assert [v["status"] for v in _index(root)["versions"]] == ["retired", "champion"]

    # A floor alone rejects, even with nothing to compare with.
    strict = PromotionParams(floors={"min_auc_roc": 0.99})
    gate = _register(
        ModelRegistryDataset(path=str(tmp_path / "fresh")), snapshot, "good", strict
    )
    assert gate["decision"] == "rejected"
    assert (
        gate["reasons"][0].startswith("test ROC-AUC") and "0.9900" in gate["reasons"][0]
    )
    with pytest.raises(DatasetError, match="has no champion.*promote"):
        ModelRegistryDataset(path=str(tmp_path / "fresh")).load()
    # auto_promote off: a passing version waits as a candidate.
    held = PromotionParams(auto_promote=False, floors={"min_auc_roc": 0.0})
    gate = _register(registry, snapshot, "good", held)
    assert gate["decision"] == "held"
    assert _index(root)["versions"][-1]["status"] == "candidate"
    assert registry.load()["version_id"] == second


def test_champion_of_another_snapshot_is_rescored_on_gold_rows_or_compared_on_floors_only(
    tmp_path,
):
    old, new = make_snapshot(seed=1), make_snapshot(seed=2)
    registry = ModelRegistryDataset(
        path=str(tmp_path / "registry" / "logistic_regression")
    )
    _register(registry, old, "good")

    # No gold store: the champion cannot be rescored, the record says so.
    gate = _register(registry, new, "worse")
    assert not gate["paired"] and "floors only" in gate["comparison"]
    assert gate["decision"] == "promoted"  # floors were all it had to pass

    # With the gold rows of the new test encounters, the champion's own scaler rescores them.
    store = DeltaTableStore(path=str(tmp_path / "feature_store"))
    new_gold_test = gold_windows(seed=2)["test"]
    store.save(new_gold_test)
    lookup = GoldRowsLookupDataset(path=str(tmp_path / "feature_store")).load()
    champion = ModelRegistryChampionDataset(  # the champion trained on the old snapshot
        path=registry._path, pinned_version=registry.committed_versions()[0]
    ).load()
    package, scores = _package(new, "worse")
    gate = gate_challenger(package, scores, new, champion, lookup, NO_FLOORS)
    assert gate["paired"] and gate["paired_rows"] == len(new.test)
    assert "gold rows" in gate["comparison"]
    expected = champion["model"].predict_proba(new_gold_test)[:, 1]
    assert gate["paired_metric"]["champion"] == pytest.approx(
        evaluation.window_metrics(scores["y_true"], expected, 0.5)["auc_roc"]
    )
    # Gold rows without the champion's inputs (another feature list): floors only.
    store.save(new_gold_test.drop(columns=["number_inpatient"]))
    lookup = GoldRowsLookupDataset(path=str(tmp_path / "feature_store")).load()
    gate = gate_challenger(package, scores, new, champion, lookup, NO_FLOORS)
    assert not gate["paired"]
    assert (
        "do not fit" in gate["comparison"] and "number_inpatient" in gate["comparison"]
    )


def test_promote_and_roll_back_round_trip_records_who_when_why(tmp_path):
    snapshot = make_snapshot()
    root = tmp_path / "registry" / "logistic_regression"
    registry = ModelRegistryDataset(path=str(root))
    _register(registry, snapshot, "worse")
    _register(registry, snapshot, "good")
    first, second = registry.committed_versions()
    promotions = RegistryPromotionDataset(path=str(tmp_path / "registry"))
    location = RegistryLocation(str(tmp_path / "registry"))

    promote(
        location,
        algorithm="logistic_regression",
        version=first,
        reason="rollback: drift alert",
        user="ana",
    )
    index = _index(root)
    assert index["champion"] == first and registry.load()["version_id"] == first
    assert (root / "latest" / "model.pkl").read_bytes() == (
        root / first / "model.pkl"
    ).read_bytes()
    assert [v["status"] for v in index["versions"]] == ["champion", "retired"]
    (record,) = index["versions"][0]["promotions"]
    assert (
        record["promoted_by"] == "ana" and record["reason"] == "rollback: drift alert"
    )
    assert datetime.fromisoformat(record["promoted_at"]).tzinfo is not None
    assert index["promotions"][0]["previous_champion"] == second

    promote(location, "logistic_regression", second, reason="fixed")
    index = _index(root)
    assert index["champion"] == second and registry.load()["version_id"] == second
    assert index["promotions"][-1]["promoted_by"].count("@") == 1  # user@host
    assert [p["version_id"] for p in promotions.load()] == [first, second]

    # A tampered version is refused and nothing moves.
    (root / first / "model.pkl").write_bytes(b"tampered")
    before = (root / "versions.json").read_bytes()
    with pytest.raises(DatasetError, match="Refusing to promote.*modified or damaged"):
        promote(location, "logistic_regression", first, reason="x")
    assert (root / "versions.json").read_bytes() == before
    with pytest.raises(DatasetError, match="does not exist or its registration"):
        promote_version(registry, "v20200101_000000", reason="x", user="ana")


class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _bundle(auc: float) -> dict[str, Any]:
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
    gate = {"decision": "promoted", "passed": True, "reasons": ["floors met"]}
    return {
        "model": model,
        "metadata": {"performance": {"test": {"auc_roc": auc}}, "gate": gate},
    }


def _register_or_promote(path: str, task: tuple[str, Any], barrier) -> None:
    barrier.wait()
    kind, value = task
    if kind == "register":
        ModelRegistryDataset(path=path).save(_bundle(value))
    else:
        promote_version(
            ModelRegistryDataset(path=path), value, reason="concurrent", user="test"
        )


def test_concurrent_registrations_and_promotions_lose_nothing(tmp_path, monkeypatch):
    """Threads, then processes, register and promote at once, all in the same second."""
    monkeypatch.setattr(model_registry, "datetime", _FrozenClock)
    path = str(tmp_path / "xgboost")
    registry = ModelRegistryDataset(path=path)
    registry.save(_bundle(0.6))
    registry.save(_bundle(0.61))
    seed_a, seed_b = registry.committed_versions()

    tasks = [("register", 0.7 + i / 100) for i in range(4)]
    tasks += [("promote", seed_a), ("promote", seed_b)] * 2
    barrier = threading.Barrier(len(tasks))
    threads = [
        threading.Thread(target=_register_or_promote, args=(path, t, barrier))
        for t in tasks
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    context = multiprocessing.get_context("fork")
    process_tasks = [("register", 0.8), ("register", 0.81), ("promote", seed_a)]
    process_barrier = context.Barrier(len(process_tasks))
    processes = [
        context.Process(target=_register_or_promote, args=(path, t, process_barrier))
        for t in process_tasks
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0

    committed = registry.committed_versions()
    assert len(committed) == 2 + 4 + 2
    promotions = registry.committed_promotions()
    assert len(promotions) == 4 + 1
    index = json.loads((tmp_path / "xgboost" / "versions.json").read_text())
    assert [v["id"] for v in index["versions"]] == committed
    assert [p["promotion_id"] for p in index["promotions"]] == [
        p["promotion_id"] for p in promotions
    ]
    champion, statuses = champion_and_statuses(index["versions"], promotions)
    assert index["champion"] == champion
    assert [v["status"] for v in index["versions"]] == [statuses[v] for v in committed]
    assert list(statuses.values()).count("champion") == 1
    assert registry.load()["version_id"] == champion  # latest/ whole and verified


@pytest.mark.slow
def test_kedro_runs_reject_keep_latest_exit_0_and_promote_by_hand(training_project):
    """Through the real CLI and catalog: a rejected registration exits 0 with one line, and
    `kedro run --pipelines promote` makes it the champion anyway, recording why."""
    root = (
        training_project.data / "06_models" / "model_registry" / "logistic_regression"
    )
    training_project.run("--pipelines", "logistic_regression")
    champion = _index(root)["champion"]
    assert champion is not None
    latest = (root / "latest" / "model.pkl").read_bytes()

    result = training_project.run(
        "--pipelines",
        "logistic_regression",
        "--params",
        "promotion.floors.min_auc_roc=0.99",
    )
    output = result.stdout + result.stderr
    rejected = _index(root)["newest"]
    lines = [line for line in output.splitlines() if "NOT promoted" in line]
    assert len(lines) == 1 and rejected in lines[0] and "0.9900" in lines[0]
    assert (root / "latest" / "model.pkl").read_bytes() == latest
    assert _index(root)["champion"] == champion

    missing = training_project.run("--pipelines", "promote", check=False)
    assert missing.returncode != 0
    assert "promote.algorithm, promote.version, promote.reason" in missing.stderr
    assert "Traceback" not in missing.stderr

    training_project.run(
        "--pipelines",
        "promote",
        "--params",
        f"promote.algorithm=logistic_regression,promote.version={rejected},"
        "promote.reason=accepted by the review board",
    )
    index = _index(root)
    assert index["champion"] == rejected
    assert [v["status"] for v in index["versions"]] == ["retired", "champion"]
    assert index["promotions"][0]["reason"] == "accepted by the review board"
    assert (root / "latest" / "model.pkl").read_bytes() == (
        root / rejected / "model.pkl"
    ).read_bytes()


def test_the_gate_logs_each_reason_once(tmp_path, caplog):
    """Issue 25 item 8: "floors met; no champion yet: floors only; no champion yet: floors only"."""
    caplog.set_level("INFO")
    registry = ModelRegistryDataset(path=str(tmp_path / "logistic_regression"))
    _register(registry, make_snapshot(), "good")
    (line,) = [
        r.getMessage() for r in caplog.records if "Champion gate:" in r.getMessage()
    ]
    assert line == "Champion gate: promoted (floors met; no champion yet: floors only)"


def test_a_champion_of_another_raw_file_is_not_compared_with():
    """Issue 25 item 3: a model of the real file was paired against the demo's champion."""
    snapshot = make_snapshot()
    package, scores = _package(snapshot, "good")
    real = {"path": "data/01_raw/diabetic_data.csv", "sha256": "ab" * 32}
    demo = {
        "sha256": "cd" * 32,
        "demo": True,
        "world": {"seed": 42, "n_encounters": 1000},
    }
    package["metadata"]["population"] = {"raw_source": real}
    champion = {
        "version_id": "v20261206_053642",
        "metadata": {"population": {"raw_source": demo}},
    }
    gate = gate_challenger(package, scores, snapshot, champion, None, NO_FLOORS)
    assert gate["decision"] == "promoted" and gate["paired"] is False
    assert gate["comparison"] == (
        "champion v20261206_053642 not rescored (it was trained on demo data (seed 42, "
        "1,000 encounters), this version on data/01_raw/diabetic_data.csv (sha256 "
        "abababab)): floors only"
    )
