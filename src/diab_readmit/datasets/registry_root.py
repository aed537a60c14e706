"""What the datasets over the whole registry root share: its path and storage options, and
the ``ModelRegistryDataset`` of one algorithm (optionally pinned to a version) under it."""

from __future__ import annotations

from typing import Any

from diab_readmit.datasets.model_registry import ModelRegistryDataset


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

    def _algorithm_path(self, algorithm: str) -> str:
        return f"{self._path}/{algorithm}"

    def _registry(
        self, algorithm: str, version: str | None = None
    ) -> ModelRegistryDataset:
        return ModelRegistryDataset(
            path=self._algorithm_path(algorithm),
            pinned_version=version,
            credentials=self._credentials,
            fs_args=self._fs_args,
        )

    def _exists(self) -> bool:
        return True  # an empty registry is a registry with nothing in it

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}
