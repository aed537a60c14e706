"""What the datasets over the whole registry root share: its path and storage options, and
the ``ModelRegistryDataset`` of one algorithm (optionally pinned to a version) under it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from diab_readmit.datasets.model_registry import ModelRegistryDataset


@dataclass(frozen=True)
class RegistryLocation:
    """Where the registry root is (``<paths.model_registry>``, local or ``s3://``) and how to
    reach it: what a node needs to call a registry function such as
    :func:`diab_readmit.datasets.registry_promotion.promote`."""

    path: str
    credentials: dict[str, Any] | None = None
    fs_args: dict[str, Any] | None = None

    def registry(
        self, algorithm: str, version: str | None = None
    ) -> ModelRegistryDataset:
        """The ``ModelRegistryDataset`` of ``algorithm`` (pinned to ``version`` if given)."""
        return ModelRegistryDataset(
            path=f"{self.path}/{algorithm}",
            pinned_version=version,
            credentials=self.credentials,
            fs_args=self.fs_args,
        )


class RegistryRoot:
    """Mixin of the read-across-algorithms datasets (champions, promotions, versions).

    The registry root is ``<paths.model_registry>`` (local or ``s3://``), one folder per
    algorithm; every read goes through that algorithm's ``ModelRegistryDataset``, so the
    completeness and sha256 checks are the registry's own.
    """

    def __init__(
        self,
        *,
        path: str,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Args:
        path: the registry root.
        credentials: passed to the fsspec filesystem.
        fs_args: passed to the fsspec filesystem (``conf/aws`` sets S3 retries).
        metadata: free-form, for kedro-viz and hooks.
        """
        self._path = path.rstrip("/")
        self._credentials = credentials
        self._fs_args = fs_args
        self.metadata = metadata

    @property
    def location(self) -> RegistryLocation:
        return RegistryLocation(self._path, self._credentials, self._fs_args)

    def _algorithm_path(self, algorithm: str) -> str:
        return f"{self._path}/{algorithm}"

    def _registry(
        self, algorithm: str, version: str | None = None
    ) -> ModelRegistryDataset:
        return self.location.registry(algorithm, version)

    def _exists(self) -> bool:
        return True  # an empty registry is a registry with nothing in it

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}


class RegistryLocationDataset(RegistryRoot, AbstractDataset[None, RegistryLocation]):
    """Loads the registry root as a :class:`RegistryLocation`, for nodes that call registry
    functions (promotion); reads nothing itself.

    Example (conf/base/catalog_promotion.yml)::

        model_registry_location:
          type: diab_readmit.datasets.registry_root.RegistryLocationDataset
          path: ${globals:paths.model_registry}
    """

    def load(self) -> RegistryLocation:
        return self.location

    def save(self, data: Any) -> None:
        raise DatasetError(f"{type(self).__name__} ({self._path}) is read-only.")
