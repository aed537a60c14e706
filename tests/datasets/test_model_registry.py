"""ModelRegistryDataset / ModelRegistryHistoryDataset: layout, indexes, same-second and
concurrent registrations, checksums, pinned versions, local disk, memory:// and S3."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import pickle
import socket
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from kedro.io.core import DatasetError
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression

from diab_readmit.datasets import model_registry
from diab_readmit.datasets.model_registry import (
    REGISTRATION_MARKS,
    ModelRegistryDataset,
    ModelRegistryHistoryDataset,
)
from diab_readmit.figures_io import png_bytes
from diab_readmit.model_card import render_model_card

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _bundle(test_auc: float = 0.7, with_plots: bool = True) -> dict:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    figure = Figure(figsize=(2, 2))
    figure.subplots().plot([0, 1], [0, test_auc])
    metadata = {
        "model_name": "logistic_regression",
        "performance": {
            "test": {"auc_roc": test_auc},
            "oot": {"auc_roc": np.float64(test_auc - 0.02)},
        },
        "snapshot_id": "train_data_20260101_000000",
        "threshold": 0.4,
    }
    plots = (
        {
            "roc_curves.png": png_bytes(figure),
            "importances.png": b"\x89PNG\r\n\x1a\nnot-really",
        }
        if with_plots
        else {}
    )
    # As the training pipeline hands them over: PNG files and a card rendered beforehand.
    card = render_model_card(
        {**json.loads(json.dumps(metadata, default=float)), **REGISTRATION_MARKS}
    )
    return {"model": model, "metadata": metadata, "plots": plots, "model_card": card}


class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_layout_metadata_and_indexes_after_two_registrations(tmp_path):
    root = tmp_path / "logistic_regression"
    registry = ModelRegistryDataset(path=str(root))
    assert not registry.exists()
    registry.save(_bundle(0.70))
    registry.save(_bundle(0.72))

    versions = sorted(p.name for p in root.iterdir() if p.name.startswith("v2"))
    assert len(versions) == 2 and versions[0] < versions[1]
    for version in versions:
        names = sorted(
            p.name for p in (root / version).iterdir() if p.name != "_claim.json"
        )
        assert names == ["metadata.json", "model.pkl", "model_card.md", "plots"]
        assert sorted(p.name for p in (root / version / "plots").iterdir()) == [
            "importances.png",
            "roc_curves.png",
        ]
        assert (
            (root / version / "plots" / "roc_curves.png")
            .read_bytes()
            .startswith(PNG_MAGIC)
        )
        metadata = json.loads((root / version / "metadata.json").read_text())
        assert metadata["version_id"] == version
        assert (
            metadata["sha256"]
            == hashlib.sha256((root / version / "model.pkl").read_bytes()).hexdigest()
        )
        assert metadata["plots"] == ["plots/roc_curves.png", "plots/importances.png"]
        assert (
            metadata["model_name"] == "logistic_regression" and metadata["created_at"]
        )

    index = json.loads((root / "versions.json").read_text())
    assert index["latest"] == versions[1]
    assert [entry["id"] for entry in index["versions"]] == versions
    assert set(index["versions"][0]) >= {
        "id",
        "created_at",
        "test_auc_roc",
        "oot_auc_roc",
        "snapshot_id",
        "sha256",
    }
    assert [entry["test_auc_roc"] for entry in index["versions"]] == [0.70, 0.72]
    assert index["versions"][1]["oot_auc_roc"] == pytest.approx(0.70)

    latest = json.loads((root / "latest" / "metadata.json").read_text())
    assert latest["version_id"] == versions[1]
    assert (root / "latest" / "model.pkl").read_bytes() == (
        root / versions[1] / "model.pkl"
    ).read_bytes()

    loaded = registry.load()
    assert loaded["version_id"] == versions[1]
    assert loaded["model"].predict_proba(np.zeros((1, 3))).shape == (1, 2)
    pinned = ModelRegistryDataset(path=str(root), pinned_version=versions[0]).load()
    assert pinned["metadata"]["performance"]["test"]["auc_roc"] == 0.70


def test_history_view_reads_indexes_and_plots_without_models(tmp_path):
    root = tmp_path / "xgboost"
    history = ModelRegistryHistoryDataset(path=str(root))
    assert history.load() == {
        "algorithm": "xgboost",
        "latest": None,
        "champion": None,
        "newest": None,
        "versions": [],
        "promotions": [],
        "plots": {},
        "model_card": None,
    }

    registry = ModelRegistryDataset(path=str(root))
    registry.save(_bundle(0.70))
    registry.save(_bundle(0.75))
    # Unpickling a model is not needed for the history: a broken pickle does not matter.
    for model_file in root.glob("*/model.pkl"):
        model_file.write_bytes(b"not a pickle")
    loaded = history.load()
    assert loaded["algorithm"] == "xgboost"
    assert [v["test_auc_roc"] for v in loaded["versions"]] == [0.70, 0.75]
    assert loaded["latest"]["version_id"] == loaded["versions"][-1]["id"]
    assert set(loaded["plots"]) == {"roc_curves.png", "importances.png"}
    assert loaded["plots"]["roc_curves.png"].startswith(PNG_MAGIC)
    with pytest.raises(DatasetError, match="read-only"):
        history.save({"algorithm": "xgboost"})


def test_registrations_in_the_same_second_get_distinct_ids(tmp_path, monkeypatch):
    monkeypatch.setattr(model_registry, "datetime", _FrozenClock)
    registry = ModelRegistryDataset(path=str(tmp_path / "rf"))
    for auc in (0.60, 0.61, 0.62):
        registry.save(_bundle(auc))
    ids = registry.committed_versions()
    assert ids == ["v20260102_030405", "v20260102_030405_01", "v20260102_030405_02"]
    assert registry.load()["version_id"] == "v20260102_030405_02"
    first = ModelRegistryDataset(
        path=str(tmp_path / "rf"), pinned_version="v20260102_030405"
    ).load()
    assert first["metadata"]["performance"]["test"]["auc_roc"] == 0.60


def _register_in_process(path: str, auc: float, barrier) -> None:
    barrier.wait()
    ModelRegistryDataset(path=path).save(_bundle(auc, with_plots=False))


def test_concurrent_registrations_all_end_up_listed(tmp_path, monkeypatch):
    """Eight threads and four processes register at once, all in the same second."""
    monkeypatch.setattr(model_registry, "datetime", _FrozenClock)
    path = str(tmp_path / "xgboost")
    barrier = threading.Barrier(8)
    threads = [
        threading.Thread(
            target=_register_in_process, args=(path, 0.6 + i / 100, barrier)
        )
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    context = multiprocessing.get_context("fork")
    process_barrier = context.Barrier(4)
    processes = [
        context.Process(
            target=_register_in_process, args=(path, 0.7 + i / 100, process_barrier)
        )
        for i in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0

    registry = ModelRegistryDataset(path=path)
    committed = registry.committed_versions()
    assert len(committed) == 12 and len(set(committed)) == 12
    index = json.loads((tmp_path / "xgboost" / "versions.json").read_text())
    assert [entry["id"] for entry in index["versions"]] == committed
    assert index["latest"] == committed[-1]
    assert (
        registry.load()["version_id"] == committed[-1]
    )  # latest/ is whole and verified


def test_modified_model_is_refused_by_its_sha256(tmp_path):
    root = tmp_path / "lr"
    registry = ModelRegistryDataset(path=str(root))
    registry.save(_bundle())
    version = registry.committed_versions()[0]
    tampered = pickle.dumps(LogisticRegression())
    (root / version / "model.pkl").write_bytes(tampered)
    with pytest.raises(
        DatasetError, match=rf"Refusing to load .*{version}/model.pkl.*sha256"
    ):
        ModelRegistryDataset(path=str(root), pinned_version=version).load()
    (root / "latest" / "model.pkl").write_bytes(tampered)
    with pytest.raises(DatasetError, match=r"Refusing to load .*latest/model.pkl"):
        registry.load()


def test_missing_metadata_is_refused_and_never_listed(tmp_path, monkeypatch):
    root = tmp_path / "lr"
    registry = ModelRegistryDataset(path=str(root))
    registry.save(_bundle(0.70))
    first = registry.committed_versions()[0]

    # A registration that dies after model.pkl: no metadata.json, so not a version at all.
    original = ModelRegistryDataset._write_bytes

    def die_on_metadata(self, content, *parts):
        if parts[-1] == "metadata.json" and parts[0] != "latest":
            raise OSError("disk gone")
        original(self, content, *parts)

    monkeypatch.setattr(ModelRegistryDataset, "_write_bytes", die_on_metadata)
    with pytest.raises(DatasetError, match="disk gone"):
        registry.save(_bundle(0.99))
    monkeypatch.undo()

    assert registry.committed_versions() == [first]
    assert registry.load()["version_id"] == first
    assert json.loads((root / "versions.json").read_text())["latest"] == first
    orphan = next(
        p.name for p in root.iterdir() if p.name.startswith("v2") and p.name != first
    )
    with pytest.raises(
        DatasetError, match=rf"{orphan}.*no metadata.json.*Registered versions: {first}"
    ):
        ModelRegistryDataset(path=str(root), pinned_version=orphan).load()


def test_indexes_are_rebuilt_from_the_versions(tmp_path):
    root = tmp_path / "rf"
    registry = ModelRegistryDataset(path=str(root))
    registry.save(_bundle(0.70))
    registry.save(_bundle(0.71))
    (root / "versions.json").write_text("{broken")
    (root / "latest" / "metadata.json").unlink()
    registry.refresh_indexes()
    index = json.loads((root / "versions.json").read_text())
    assert [entry["id"] for entry in index["versions"]] == registry.committed_versions()
    assert registry.load()["version_id"] == registry.committed_versions()[-1]


def test_user_errors_say_what_to_do(tmp_path):
    with pytest.raises(
        DatasetError, match=r"No model of 'xgboost' is registered.*--pipelines xgboost"
    ):
        ModelRegistryDataset(path=str(tmp_path / "xgboost")).load()
    with pytest.raises(DatasetError, match="not a version id"):
        ModelRegistryDataset(path=str(tmp_path / "xgboost"), pinned_version="latest")
    with pytest.raises(DatasetError, match="expected a dict with 'model', 'metadata'"):
        ModelRegistryDataset(path=str(tmp_path / "xgboost")).save(LogisticRegression())
    bundle = _bundle()
    bundle["metadata"]["not_json"] = object()
    with pytest.raises(DatasetError, match="not JSON-serialisable"):
        ModelRegistryDataset(path=str(tmp_path / "xgboost")).save(bundle)


def test_round_trip_on_memory_filesystem():
    path = f"memory://registry-{uuid.uuid4().hex}/random_forest"
    registry = ModelRegistryDataset(path=path)
    registry.save(_bundle(0.70))
    registry.save(_bundle(0.71))
    assert registry.load()["metadata"]["performance"]["test"]["auc_roc"] == 0.71
    history = ModelRegistryHistoryDataset(path=path).load()
    assert history["algorithm"] == "random_forest" and len(history["versions"]) == 2


@pytest.fixture(scope="module")
def s3_endpoint():
    moto_server = pytest.importorskip("moto.server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = moto_server.ThreadedMotoServer(
        ip_address="127.0.0.1", port=port, verbose=False
    )
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_round_trip_and_concurrent_writers_on_s3(s3_endpoint, monkeypatch):
    import s3fs

    monkeypatch.setattr(model_registry, "datetime", _FrozenClock)
    credentials = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": s3_endpoint},
    }
    bucket = f"registry-{uuid.uuid4().hex[:8]}"
    s3fs.S3FileSystem(**credentials).mkdir(bucket)
    path = f"s3://{bucket}/model_registry/xgboost"

    barrier = threading.Barrier(4)

    def register(auc: float) -> None:
        barrier.wait()
        # One dataset (and one S3 client) per writer, like separate ECS tasks.
        ModelRegistryDataset(path=path, credentials=credentials).save(_bundle(auc))

    threads = [
        threading.Thread(target=register, args=(0.6 + i / 100,)) for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    registry = ModelRegistryDataset(path=path, credentials=credentials)
    committed = registry.committed_versions()
    # Distinct ids of that second; writers that collide both back off, so numbers may skip.
    assert len(set(committed)) == 4 and all(
        v.startswith("v20260102_030405") for v in committed
    )
    history = ModelRegistryHistoryDataset(path=path, credentials=credentials).load()
    assert [v["id"] for v in history["versions"]] == committed
    assert registry.load()["version_id"] == committed[-1]
    assert history["plots"]["roc_curves.png"].startswith(PNG_MAGIC)


def test_saved_plots_are_readable_images(tmp_path):
    import matplotlib.image

    registry = ModelRegistryDataset(path=str(tmp_path / "lr"))
    registry.save(_bundle())
    version = registry.committed_versions()[0]
    image = matplotlib.image.imread(
        io.BytesIO(
            Path(tmp_path / "lr" / version / "plots" / "roc_curves.png").read_bytes()
        )
    )
    assert image.ndim == 3 and image.shape[0] > 50


def test_the_card_handed_over_is_stamped_and_figures_must_be_png_files(tmp_path):
    registry = ModelRegistryDataset(path=str(tmp_path / "logistic_regression"))
    registry.save(_bundle())
    version = registry.committed_versions()[0]
    folder = tmp_path / "logistic_regression" / version
    metadata = json.loads((folder / "metadata.json").read_text())
    card = (folder / "model_card.md").read_text()
    assert f"# Model card: logistic_regression {version}" in card
    assert metadata["sha256"] in card and metadata["created_at"] in card
    assert not any(mark in card for mark in REGISTRATION_MARKS.values())
    assert registry.load_version(version)["metadata"] == metadata

    figure = Figure(figsize=(2, 2))
    with pytest.raises(DatasetError, match="not PNG bytes; a node renders figures"):
        registry.save({**_bundle(), "plots": {"roc_curves.png": figure}})
    with pytest.raises(DatasetError, match="'model_card' must be the card's Markdown"):
        registry.save({**_bundle(), "model_card": {"not": "markdown"}})
    assert registry.committed_versions() == [version]


def test_a_bundle_without_card_registers_without_one(tmp_path):
    root = tmp_path / "xgboost"
    registry = ModelRegistryDataset(path=str(root))
    registry.save({**_bundle(), "model_card": None})
    version = registry.committed_versions()[0]
    assert not (root / version / "model_card.md").exists()
    assert (
        json.loads((root / version / "metadata.json").read_text())["model_card"] is None
    )
    assert ModelRegistryHistoryDataset(path=str(root)).load()["model_card"] is None
