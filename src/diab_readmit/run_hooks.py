"""Hooks that hold a run to its promises: one snapshot per run, and no training that ends on
an output folder it cannot write."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset
from kedro.io.core import DatasetError, get_protocol_and_path

from diab_readmit.datasets import table_pairs
from diab_readmit.datasets.delta_store import DeltaTableStore
from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset

logger = logging.getLogger(__name__)


def _datasets(pipeline, catalog) -> dict[str, Any]:
    """The pipeline's datasets as the catalog materialises them (factories included)."""
    found = {}
    for name in sorted(pipeline.datasets()):
        if name.startswith("params:") or name == "parameters":
            continue
        dataset = catalog.get(name)
        if dataset is not None:
            found[name] = dataset
    return found


_PINNED_TYPES = (PreprocessedSnapshotDataset, DeltaTableStore)


class PinInputsPerRun:
    """Every node of a run reads the same preprocessed snapshot (the first load's, or the one
    the run saved) and the same versions of the Delta tables (time travel), so a model is
    refitted, evaluated and registered on one snapshot even when another run moves
    latest.txt or commits to the gold stores meanwhile (the registered metadata names them:
    ``snapshot_id``, and the gold versions in the snapshot's ``sources``). Also forgets the
    previous run's staged pair saves (``table_pairs``), and fails a run that saved one store
    of a pair without the other: nothing of such a save was committed."""

    def __init__(self) -> None:
        self._pinned: list[Any] = []

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        table_pairs.start_new_run()
        self._pinned = [
            d
            for d in _datasets(pipeline, catalog).values()
            if isinstance(d, _PINNED_TYPES)
        ]
        for dataset in self._pinned:
            dataset.pin_for_run()

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        unpaired = table_pairs.unpaired_saves()
        self._unpin()
        if unpaired:
            raise DatasetError(
                f"This run saved {', '.join(unpaired)} but not the store it commits with, so "
                f"nothing of that save was committed. Run the whole pipeline that writes "
                f"both (e.g. `kedro run --pipelines data_processing`)."
            )

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._unpin()

    def _unpin(self) -> None:
        for dataset in self._pinned:
            dataset.unpin()
        self._pinned = []
        table_pairs.start_new_run()


def _output_location(dataset: Any) -> str | None:
    """Where a dataset writes: the folder of our fsspec datasets, the file of kedro-datasets'."""
    if isinstance(dataset, MemoryDataset):
        return None
    inner = getattr(dataset, "_dataset", None)  # CachedDataset
    if inner is not None:
        return _output_location(inner)
    for attribute in ("_path", "_filepath"):
        value = getattr(dataset, attribute, None)
        if value is not None:
            protocol = getattr(dataset, "_protocol", None)
            text = str(value)
            return (
                text
                if protocol in (None, "file") or "://" in text
                else f"{protocol}://{text}"
            )
    return None


def unwritable_local_outputs(locations: dict[str, str]) -> list[str]:
    """One line per local location that this process cannot create or write files in."""
    problems = []
    for name, location in locations.items():
        protocol, path = get_protocol_and_path(location)
        if protocol != "file":
            continue  # S3 permissions are named with the bucket when a write is refused
        target = Path(path)
        existing = target
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing.is_file() and existing != target:
            problems.append(
                f"{name}: {location} (the file {existing} is in the way of a folder)"
            )
            continue
        folder = existing.parent if existing.is_file() else existing
        if not os.access(folder, os.W_OK | os.X_OK) or (
            existing.is_file() and not os.access(existing, os.W_OK)
        ):
            problems.append(f"{name}: {location} ({existing} is not writable)")
    return problems


class CheckOutputsWritable:
    """Before the first node runs, check that every local output location can be written:
    a read-only data/06_models must stop a run in seconds, not after an hour of training."""

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        outputs = pipeline.all_outputs()
        locations = {
            name: location
            for name, dataset in _datasets(pipeline, catalog).items()
            if name in outputs and (location := _output_location(dataset))
        }
        problems = unwritable_local_outputs(locations)
        if problems:
            raise DatasetError(
                f"This run would write to {len(problems)} local location(s) it cannot write to, "
                f"so no node was run: {'; '.join(problems)}. Make them writable (e.g. "
                f"`chmod -R u+w <folder>`, or fix the owner with `chown`; move a file that is in "
                f"the way), or point data_root / paths in conf/local/globals.yml at a writable "
                f"folder."
            )
