"""Tampered, truncated or half-deleted artifacts are refused with a message naming the file,
on local disk and on the S3 server on loopback; latest/ never points at a model that fails
its sha256. The gold stores' own validation cases live in tests/datasets/test_gold_*.py; here
the parquet-level damage is repeated on S3.
"""

from __future__ import annotations

import json
import pickle

import pandas as pd
import pytest
from kedro.io.core import DatasetError
from sklearn.linear_model import LogisticRegression

from diab_readmit.datasets.delta_store import DeltaTableStore
from diab_readmit.datasets.model_registry import (
    ModelRegistryDataset,
    ModelRegistryHistoryDataset,
)
from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset
from tests.datasets.test_model_registry import _bundle
from tests.datasets.test_preprocessed_snapshot import _snapshot
from tests.reliability.conftest import Backend


# ---------------------------------------------------------------------------- registry
def _swap_metadata(b: Backend, first: str, second: str) -> None:
    b.write(
        b.read("registry", "lr", first, "metadata.json"),
        "registry",
        "lr",
        second,
        "metadata.json",
    )


def _edit_metadata(b: Backend, version: str, change) -> None:
    metadata = json.loads(b.read("registry", "lr", version, "metadata.json"))
    change(metadata)
    b.write(json.dumps(metadata).encode(), "registry", "lr", version, "metadata.json")


#: name -> (damage done to version ``second`` (or latest/), what is loaded, expected message)
REGISTRY_CASES = {
    "model bytes changed": (
        lambda b, first, second: b.write(
            pickle.dumps(LogisticRegression()), "registry", "lr", second, "model.pkl"
        ),
        "second",
        r"Refusing to load .*/{second}/model.pkl: it has sha256 \w+\.\.\., not \w+\.\.\. as its metadata.json records",
    ),
    "model truncated (partial upload)": (
        lambda b, first, second: b.write(
            b.read("registry", "lr", second, "model.pkl")[:100],
            "registry",
            "lr",
            second,
            "model.pkl",
        ),
        "second",
        r"Refusing to load .*/{second}/model.pkl: it has sha256",
    ),
    "model deleted": (
        lambda b, first, second: b.delete("registry", "lr", second, "model.pkl"),
        "second",
        r"Refusing to load .*/{second}/model.pkl: it is missing",
    ),
    "metadata deleted": (
        lambda b, first, second: b.delete("registry", "lr", second, "metadata.json"),
        "second",
        r"{second} of 'lr' has no metadata.json .*Registered versions: {first}\.",
    ),
    "metadata.json of another version (mismatched pair)": (
        _swap_metadata,
        "second",
        r"Refusing to load .*/{second}: its metadata.json describes version {first}, not {second}",
    ),
    "model.pkl of another version (mismatched pair)": (
        lambda b, first, second: b.write(
            b.read("registry", "lr", first, "model.pkl"),
            "registry",
            "lr",
            second,
            "model.pkl",
        ),
        "second",
        r"Refusing to load .*/{second}/model.pkl: it has sha256",
    ),
    "sha256 removed from metadata": (
        lambda b, first, second: _edit_metadata(b, second, lambda m: m.pop("sha256")),
        "second",
        r"Refusing to load .*/{second}/model.pkl: it has no sha256 in its metadata.json",
    ),
    "metadata not JSON": (
        lambda b, first, second: b.write(
            b'{"version_id": "v2', "registry", "lr", second, "metadata.json"
        ),
        "second",
        r"/{second}/metadata.json is not valid JSON .*restore it",
    ),
    "latest/model.pkl replaced by an unregistered model": (
        lambda b, first, second: b.write(
            pickle.dumps(LogisticRegression()), "registry", "lr", "latest", "model.pkl"
        ),
        "latest",
        r"Refusing to load .*/latest/model.pkl: it has sha256",
    ),
    "latest/metadata.json edited to another sha256": (
        lambda b, first, second: (
            b.write(
                b.read("registry", "lr", first, "metadata.json"),
                "registry",
                "lr",
                "latest",
                "metadata.json",
            )
            or b.write(
                pickle.dumps(LogisticRegression()),
                "registry",
                "lr",
                "latest",
                "model.pkl",
            )
        ),
        "latest",
        r"Refusing to load .*/latest/model.pkl",
    ),
}


@pytest.fixture
def two_versions(backend) -> tuple[Backend, str, str]:
    registry = ModelRegistryDataset(
        path=backend.path("registry", "lr"), credentials=backend.credentials
    )
    registry.save(_bundle(0.70, with_plots=False))
    second_bundle = _bundle(0.72, with_plots=False)
    second_bundle[
        "model"
    ].C = 0.5  # a different model, so its bytes differ from the first's
    registry.save(second_bundle)
    first, second = registry.committed_versions()
    return backend, first, second


@pytest.mark.parametrize("case", list(REGISTRY_CASES))
def test_damaged_model_is_refused(two_versions, case):
    backend, first, second = two_versions
    damage, target, expected = REGISTRY_CASES[case]
    damage(backend, first, second)
    pinned = None if target == "latest" else second
    dataset = ModelRegistryDataset(
        path=backend.path("registry", "lr"),
        pinned_version=pinned,
        credentials=backend.credentials,
    )
    with pytest.raises(DatasetError, match=expected.format(first=first, second=second)):
        dataset.load()
    # The undamaged version is still there and whole: nothing else is lost.
    intact = ModelRegistryDataset(
        path=backend.path("registry", "lr"),
        pinned_version=first,
        credentials=backend.credentials,
    )
    assert intact.load()["metadata"]["performance"]["test"]["auc_roc"] == 0.70


def test_latest_never_points_at_a_model_failing_its_sha256(backend, monkeypatch):
    """A version whose model.pkl is damaged between its commit and its publication (a disk
    error, someone overwriting it) is never copied into latest/."""
    path = backend.path("registry", "lr")
    registry = ModelRegistryDataset(path=path, credentials=backend.credentials)
    registry.save(_bundle(0.70, with_plots=False))
    first = registry.committed_versions()[-1]
    latest_before = backend.files("registry", "lr", "latest")
    real_refresh = ModelRegistryDataset.refresh_indexes

    def damage_then_refresh(self):
        newest = self.committed_versions()[-1]
        backend.write(
            b"not the registered model", "registry", "lr", newest, "model.pkl"
        )
        real_refresh(self)

    monkeypatch.setattr(ModelRegistryDataset, "refresh_indexes", damage_then_refresh)
    with pytest.raises(
        DatasetError,
        match=r"Not publishing v\w+ as latest/: .*model.pkl has sha256 .* latest/ is unchanged",
    ):
        registry.save(_bundle(0.75, with_plots=False))
    monkeypatch.undo()
    assert backend.files("registry", "lr", "latest") == latest_before
    assert registry.load()["version_id"] == first
    # The damaged version is refused by itself too, and the history still reads.
    damaged = registry.committed_versions()[-1]
    with pytest.raises(DatasetError, match="Refusing to load"):
        ModelRegistryDataset(
            path=path, pinned_version=damaged, credentials=backend.credentials
        ).load()
    assert (
        ModelRegistryHistoryDataset(path=path, credentials=backend.credentials).load()[
            "latest"
        ]["version_id"]
        == damaged
    )
    # The way out the message gives: delete the folder, register again.
    backend.fs.rm(backend.path("registry", "lr", damaged), recursive=True)
    registry.save(_bundle(0.76, with_plots=False))
    assert registry.load()["metadata"]["performance"]["test"]["auc_roc"] == 0.76


# ---------------------------------------------------------------------------- snapshots
def _edit_files_entry(b: Backend, snapshot_id: str) -> None:
    metadata = json.loads(b.read("preprocessed", snapshot_id, "metadata.json"))
    metadata["files"]["scaler.pkl"]["sha256"] = "0" * 64
    b.write(json.dumps(metadata).encode(), "preprocessed", snapshot_id, "metadata.json")


SNAPSHOT_CASES = {
    "window parquet bytes changed": (
        lambda b, s: b.write(
            b.read("preprocessed", s, "test_processed.parquet")[:-10] + b"0123456789",
            "preprocessed",
            s,
            "test_processed.parquet",
        ),
        r"{s}/test_processed.parquet does not match its sha256 in metadata.json",
    ),
    "scaler truncated": (
        lambda b, s: b.write(
            b.read("preprocessed", s, "scaler.pkl")[:50],
            "preprocessed",
            s,
            "scaler.pkl",
        ),
        r"{s}/scaler.pkl does not match its sha256",
    ),
    "window parquet deleted": (
        lambda b, s: b.delete("preprocessed", s, "oot_processed.parquet"),
        r"{s}/oot_processed.parquet is missing",
    ),
    "metadata deleted": (
        lambda b, s: b.delete("preprocessed", s, "metadata.json"),
        r"{s} is incomplete: it has no metadata.json",
    ),
    "metadata not JSON": (
        lambda b, s: b.write(b"{not json", "preprocessed", s, "metadata.json"),
        r"{s}/metadata.json is unreadable or has no file checksums",
    ),
    "checksum in metadata edited": (
        _edit_files_entry,
        r"{s}/scaler.pkl does not match its sha256",
    ),
    "latest.txt garbage": (
        lambda b, s: b.write(b"../../etc/passwd\n", "preprocessed", "latest.txt"),
        r"latest.txt holds '\.\./\.\./etc/passwd', not a snapshot id",
    ),
    "latest.txt names a deleted snapshot": (
        lambda b, s: b.write(
            b"train_data_19990101_000000\n", "preprocessed", "latest.txt"
        ),
        r"train_data_19990101_000000 does not exist .*complete snapshots: {s}",
    ),
}


@pytest.mark.parametrize("case", list(SNAPSHOT_CASES))
def test_damaged_snapshot_is_refused(backend, case):
    dataset = PreprocessedSnapshotDataset(
        path=backend.path("preprocessed"), credentials=backend.credentials
    )
    dataset.save(_snapshot())
    snapshot_id = dataset.snapshot_ids()[-1]
    damage, expected = SNAPSHOT_CASES[case]
    damage(backend, snapshot_id)
    with pytest.raises(DatasetError, match=expected.format(s=snapshot_id)):
        dataset.load()
    dataset.save(_snapshot(1.0))  # the next preprocessing run repairs it
    assert dataset.load().metadata["offset"] == 1.0


# ---------------------------------------------------------------------------- gold stores on S3 too
GOLD_CASES = {
    "corrupt partition": (
        lambda content: b"PAR1" + b"\x00garbage" * 20,
        r"data file .*/part-[^ ]+\.parquet of version 0 is not a readable parquet file",
    ),
    "truncated partition": (
        lambda content: content[: len(content) // 2],
        r"data file .*\.parquet of version 0 is not a readable parquet file: it is corrupt",
    ),
    "deleted partition": (
        None,
        r"data file .*\.parquet that version 0 names is missing",
    ),
}


@pytest.mark.parametrize("case", list(GOLD_CASES))
def test_damaged_gold_partition_is_reported_by_path(backend, case):
    store = DeltaTableStore(
        path=backend.path("gold", "label_store"), credentials=backend.credentials
    )
    store.save(
        pd.DataFrame(
            {
                "encounter_id": [1, 2, 3],
                "partition_date": pd.to_datetime(
                    ["2005-01-01", "2005-02-01", "2005-02-01"]
                ),
                "readmitted_30d": [0, 1, 0],
            }
        )
    )
    relative = sorted(
        action["add"]["path"]
        for line in backend.read("gold", "label_store", "_delta_log", f"{0:020d}.json")
        .decode()
        .splitlines()
        if "add" in (action := json.loads(line))
    )[1]
    damage, expected = GOLD_CASES[case]
    if damage is None:
        backend.delete("gold", "label_store", relative)
    else:
        backend.write(
            damage(backend.read("gold", "label_store", relative)),
            "gold",
            "label_store",
            relative,
        )
    with pytest.raises(DatasetError, match=expected) as caught:
        store.load()
    assert relative in str(
        caught.value
    ) and "kedro run --pipelines data_processing" in str(caught.value)
    if backend.name == "s3":
        assert backend.path("gold", "label_store", relative) in str(caught.value), (
            "named by its s3:// path"
        )


def test_gold_validators_run_on_s3_as_on_disk(backend):
    """The catalog's validators (tests/datasets/test_gold_validators.py) on the S3 layout: a bad
    frame is refused on save with nothing written, and bad rows written behind the catalog's
    back are refused on load, naming dataset, partition, column and value."""
    from kedro.io import DataCatalog

    from tests.datasets.test_gold_validators import features

    path = backend.path("gold", "feature_store")
    catalog = DataCatalog.from_config(
        {
            "feature_store": {
                "type": "diab_readmit.datasets.delta_store.DeltaTableStore",
                "path": path,
                "credentials": backend.credentials or None,
                "validator": "diab_readmit.datasets.gold_validators.FeatureStoreValidator",
            }
        }
    )
    bad = features().assign(age_midpoint=[75.0, 75.0, 130.0, 75.0, 75.0, 75.0])
    with pytest.raises(
        Exception,
        match=r"'age_midpoint'.*130\.0 in partition partition_date=2002-03-01",
    ):
        catalog.save("feature_store", bad)
    assert backend.files("gold", "feature_store") == {}, "a refused save writes nothing"

    DeltaTableStore(path=path, credentials=backend.credentials).save(
        bad
    )  # behind its back
    with pytest.raises(
        Exception,
        match=r"(?s)dataset 'feature_store'.*'age_midpoint'.*130\.0.*encounter_id 102",
    ) as caught:
        catalog.load("feature_store")
    assert "kedro run --pipelines data_processing" in str(caught.value)
