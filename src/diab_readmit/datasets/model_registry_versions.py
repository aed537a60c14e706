"""Every registered model version of every algorithm, loaded only when asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from diab_readmit.datasets.fsspec_folder import FsspecFolder
from diab_readmit.datasets.registry_root import RegistryRoot
from diab_readmit.datasets.storage_errors import storage_errors_named


class ModelRegistryVersionsDataset(
    RegistryRoot,
    FsspecFolder,
    AbstractDataset[None, dict[str, Callable[[], dict[str, Any]]]],
):
    """Read-only view of the whole registry: ``{"<algorithm>/<version>": load}``.

    Like a ``PartitionedDataset``, loading lists and returns one callable per committed
    version; calling it loads that version through ``ModelRegistryDataset`` with its sha256
    checked (``{"model", "metadata", "version_id"}``). A node picks the version it needs
    (the one that scored a month, say) without every model being unpickled.

    Example (conf/base/catalog_monitoring.yml)::

        model_registry_versions:
          type: diab_readmit.datasets.model_registry_versions.ModelRegistryVersionsDataset
          path: data/06_models/model_registry
    """

    def __init__(
        self,
        *,
        path: str,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Every algorithm's registry under ``path``.

        Args:
            path: the registry root, ``<paths.model_registry>`` (local or ``s3://``), one
                folder per algorithm.
            credentials: passed to the fsspec filesystem.
            fs_args: passed to the fsspec filesystem (``conf/aws`` sets S3 retries).
            metadata: free-form, for kedro-viz and hooks.
        """
        RegistryRoot.__init__(
            self,
            path=path,
            credentials=credentials,
            fs_args=fs_args,
            metadata=metadata,
        )
        FsspecFolder.__init__(self, path, credentials, fs_args)  # lists the algorithms

    def load(self) -> dict[str, Callable[[], dict[str, Any]]]:
        with storage_errors_named(self._path, "listing the model versions in"):
            loaders = {}
            for algorithm in self._listing():
                if not self._fs.isdir(self._join(algorithm)):
                    continue
                registry = self._registry(algorithm)
                for version in registry.committed_versions():
                    loaders[f"{algorithm}/{version}"] = self._registry(
                        algorithm, version
                    ).load
            return loaders

    def save(self, data: None) -> None:
        raise DatasetError(
            f"{type(self).__name__} ({self._path}) is read-only; models are registered "
            f"through '<algorithm>.model_registry@bundle'."
        )
