"""Read-only views of one algorithm's registry that unpickle nothing: its history and the
champion's metadata."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from diab_readmit.contracts import RegistryHistory
from diab_readmit.datasets.registry_folder import INDEX, MODEL_CARD, RegistryFolder
from diab_readmit.datasets.storage_errors import storage_errors_named


def champion_metadata(
    path: str,
    credentials: dict[str, Any] | None = None,
    fs_args: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """metadata.json of the champion of the registry at ``path``
    (``<paths.model_registry>/<algorithm>``), or None when it has none. Unpickles nothing."""
    history = ModelRegistryHistoryDataset(
        path=path, credentials=credentials, fs_args=fs_args
    )
    return history.load()["latest"]


class ModelRegistryHistoryDataset(
    RegistryFolder, AbstractDataset[None, RegistryHistory]
):
    """Read-only view of one algorithm's registry, without unpickling any model.

    Loads a ``contracts.RegistryHistory``: ``algorithm``, ``latest`` (metadata.json of the
    champion, what latest/ holds, or None), ``champion`` (its id), ``newest`` (metadata.json
    of the newest version), ``versions`` (versions.json entries with status and gate, oldest
    first), ``promotions`` (the promotion records) and ``plots`` ({file name: PNG bytes} of
    the champion). A registry nothing was ever registered to loads as ``latest: None``, no
    versions, no plots.

    Examples:
        Using the YAML API (conf/base/catalog_training.yml)::

            "{algorithm}.model_registry@history":
              type: diab_readmit.datasets.registry_history.ModelRegistryHistoryDataset
              path: ${globals:paths.model_registry}/{algorithm}

        Using the Python API::

            history = ModelRegistryHistoryDataset(
                path="data/06_models/model_registry/xgboost"
            )
            [version["id"] for version in history.load()["versions"]]
    """

    def load(self) -> RegistryHistory:
        with storage_errors_named(self._path, "reading the model history in"):
            return self._load_history()

    def _load_history(self) -> RegistryHistory:
        committed = self.committed_versions()
        if not committed:
            return RegistryHistory(
                algorithm=self._algorithm,
                latest=None,
                champion=None,
                newest=None,
                versions=[],
                promotions=[],
                plots={},
                model_card=None,
            )
        try:
            index = self._read_json(INDEX) or {}
        except DatasetError:
            index = {}
        # The committed versions and promotions are the truth the index is derived from;
        # the index only saves reading the metadata of versions it already lists.
        known = {entry.get("id"): entry for entry in index.get("versions", [])}
        expected = self.expected_index(committed, known)
        champion = expected["champion"]
        # The champion's own metadata: what latest/ holds once settled.
        latest = None if champion is None else self._version_metadata(champion)
        plots: dict[str, bytes] = {}
        for relative in (latest or {}).get("plots", []):
            content = self._read_bytes(champion, *relative.split("/"))
            if content is not None:
                plots[PurePosixPath(relative).name] = content
        # The champion's model card, like its plots: what latest/ describes.
        card_file = (latest or {}).get("model_card", MODEL_CARD)
        card = (
            None
            if champion is None or not card_file
            else self._read_bytes(champion, card_file)
        )
        return RegistryHistory(
            algorithm=self._algorithm,
            latest=latest,
            champion=champion,
            newest=latest
            if champion == committed[-1]
            else self._version_metadata(committed[-1]),
            versions=expected["versions"],
            promotions=expected["promotions"],
            plots=plots,
            model_card=card.decode() if card is not None else None,
        )

    def save(self, data: None) -> None:
        raise DatasetError(
            f"{type(self).__name__} ({self._path}) is read-only; models are registered through "
            f"'{self._algorithm}.model_registry@bundle'."
        )

    def _exists(self) -> bool:
        return True  # an empty registry is a valid, empty history
