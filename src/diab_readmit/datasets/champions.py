"""The champion of every algorithm, read lazily: metadata at once, a model only when asked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from diab_readmit.algorithms import ALGORITHMS
from diab_readmit.datasets.model_registry import (
    ModelRegistryDataset,
    ModelRegistryHistoryDataset,
)
from diab_readmit.datasets.registry_root import RegistryRoot


@dataclass(frozen=True)
class Champion:
    """One algorithm's champion: its metadata.json, and ``load()`` for the model itself."""

    algorithm: str
    metadata: dict[str, Any]
    path: str
    credentials: dict[str, Any] | None = None
    fs_args: dict[str, Any] | None = None

    @property
    def version_id(self) -> str:
        return self.metadata["version_id"]

    def load(self) -> dict[str, Any]:
        """``{"model", "metadata", "version_id", "algorithm"}``: model.pkl unpickled only after
        its sha256 matched; exactly that version, even if the champion changed meanwhile."""
        bundle = ModelRegistryDataset(
            path=self.path,
            pinned_version=self.version_id,
            credentials=self.credentials,
            fs_args=self.fs_args,
        ).load()
        return {**bundle, "algorithm": self.algorithm}


class RegistryChampionsDataset(
    RegistryRoot, AbstractDataset[None, dict[str, Champion]]
):
    """``{algorithm: Champion}`` for every algorithm under ``path`` that has a champion.

    Loading reads metadata only (no model is unpickled): the node picks one and calls its
    ``load()``, as nodes call the loaders of a kedro-datasets ``PartitionedDataset``.

    Example (conf/base/catalog_inference.yml)::

        inference.champions:
          type: diab_readmit.datasets.champions.RegistryChampionsDataset
          path: data/06_models/model_registry
    """

    def load(self) -> dict[str, Champion]:
        champions = {}
        for algorithm in ALGORITHMS:
            path = self._algorithm_path(algorithm)
            history = ModelRegistryHistoryDataset(
                path=path, credentials=self._credentials, fs_args=self._fs_args
            ).load()
            if history["latest"] is not None:
                champions[algorithm] = Champion(
                    algorithm, history["latest"], path, self._credentials, self._fs_args
                )
        return champions

    def save(self, data: Any) -> None:
        raise DatasetError(
            f"{type(self).__name__} ({self._path}) is read-only; models are registered by "
            f"the training pipelines and promoted by `kedro run --pipelines promote`."
        )
