"""The raw encounters CSV: read as text, never overwritten, and refused with one clear line
when it is not a comma-separated UTF-8 text file."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets.pandas import CSVDataset

from diab_readmit.datasets.raw_provenance import write_sidecar

#: Leading bytes of compressed files someone may have named ``.csv``.
_COMPRESSED = {
    b"\x1f\x8b": ("gzip", "gunzip -c {path}.gz > {path}"),
    b"PK\x03\x04": ("zip", "unzip -p {path}.zip > {path}"),
}
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


class RawEncountersCSVDataset(CSVDataset):
    """A ``pandas.CSVDataset`` that refuses to replace a file that is already there.

    The raw file is the hospital's extract (or the synthetic demo file made in its place);
    nothing in the project may overwrite it. Loading keeps every value as text so that the
    ``data_processing`` pipeline, not the CSV parser, decides what is valid and says where
    a bad value is. A file that is not what the pipeline expects (a folder, empty,
    compressed, not UTF-8, another delimiter) is refused with a message that says so.

    Takes ``pandas.CSVDataset``'s keyword arguments (``filepath``, ``load_args``,
    ``save_args``, ``fs_args``, ``credentials``, ``metadata``, ...).

    Examples:
        Using the YAML API (conf/base/catalog.yml)::

            raw_encounters:
              type: diab_readmit.datasets.raw_encounters.RawEncountersCSVDataset
              filepath: data/01_raw/diabetic_data.csv
              load_args: {dtype: str, keep_default_na: false}
              save_args: {index: false}

        Using the Python API::

            raw = RawEncountersCSVDataset(
                filepath="data/01_raw/diabetic_data.csv", load_args={"dtype": str}
            ).load()
    """

    def __init__(self, *, provenance_sidecar: bool = False, **kwargs: Any) -> None:
        """Takes ``pandas.CSVDataset``'s arguments, and ``provenance_sidecar``: when true,
        each save also writes ``<file>.provenance.json`` (``raw_provenance.write_sidecar``)
        from the saved data's ``attrs["provenance"]`` (the demo's ``synthetic`` files)."""
        super().__init__(**kwargs)
        self._provenance_sidecar = provenance_sidecar

    def load(self) -> pd.DataFrame:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        self._check_readable(path)
        try:
            frame = super().load()
        except (UnicodeDecodeError, DatasetError) as exc:
            # CSVDataset.load raises the decoding error wrapped in a DatasetError.
            if isinstance(exc, UnicodeDecodeError) or isinstance(
                exc.__cause__, UnicodeDecodeError
            ):
                raise self._not_utf8(path) from exc
            raise
        self._check_delimiter(path, frame)
        return frame

    def _check_readable(self, path: str) -> None:
        # The same class reads the raw file and each new extract, so the messages name
        # the file, not the setting that led to it.
        expected = (
            "a raw extract must be a UCI 'Diabetes 130-US hospitals' CSV file, with its "
            "header line"
        )
        if self._fs.isdir(path):
            raise DatasetError(
                f"{path} is a folder, not a file: {expected}, e.g. {path}/diabetic_data.csv."
            )
        if not self._fs.exists(path):
            raise DatasetError(
                f"No raw file at {path}. Put the UCI diabetic_data.csv there (or set "
                f"paths.raw_encounters in conf/base/globals.yml), or run `make run` to "
                f"generate demo data first."
            )
        if self._fs.size(path) == 0:
            raise DatasetError(
                f"{path} is empty (0 bytes): {expected}. Copy the extract there again."
            )
        with self._fs.open(path, "rb") as handle:
            head = handle.read(4)
        for magic, (kind, command) in _COMPRESSED.items():
            if head.startswith(magic) and "compression" not in self._load_args:
                raise DatasetError(
                    f"{path} is {kind}-compressed, although it is named like a plain CSV. "
                    f"Decompress it (e.g. `mv {path} {path}.{'gz' if kind == 'gzip' else kind}"
                    f" && {command.format(path=path)}`), or keep it and set "
                    f"load_args.compression: {kind} on raw_encounters in the catalog."
                )

    def _not_utf8(self, path: str) -> DatasetError:
        with self._fs.open(path, "rb") as handle:
            content = handle.read()
        try:
            content.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = content.count(b"\n", 0, exc.start) + 1
            start = content.rfind(b"\n", 0, exc.start) + 1
            column = content.count(b",", start, exc.start) + 1
            byte = content[exc.start : exc.start + 1].hex()
        else:  # pragma: no cover - pandas decoded differently than Python
            line, column, byte = "?", "?", "?"
        return DatasetError(
            f"{path} is not UTF-8 text: byte 0x{byte} on line {line} (field {column}) is not "
            f"valid UTF-8. The file is probably Latin-1 / Windows-1252; convert it with "
            f"`iconv -f latin1 -t utf-8 {path} > {path}.utf8 && mv {path}.utf8 {path}`, or set "
            f"load_args.encoding: latin1 on raw_encounters in the catalog."
        )

    @staticmethod
    def _check_delimiter(path: str, frame: pd.DataFrame) -> None:
        if len(frame.columns) != 1:
            return
        header = str(frame.columns[0])
        for delimiter, name in _OTHER_DELIMITERS.items():
            if header.count(delimiter) >= 2:
                raise DatasetError(
                    f"{path} separates its columns with {name} ({delimiter!r}), not commas: its "
                    f"header reads as one column '{header[:60]}...'. Convert it to a "
                    f"comma-separated file, or set load_args.sep: {delimiter!r} on "
                    f"raw_encounters in the catalog."
                )

    def save(self, data: pd.DataFrame | Iterable[pd.DataFrame]) -> None:
        """Write ``data``; an iterable of frames (e.g. ``synthetic.nodes.EncounterBlocks``)
        is written one frame after the other, header once, each frame dropped before the
        next is made: the same bytes as the frames concatenated, in one frame's memory."""
        path = get_filepath_str(self._get_save_path(), self._protocol)
        if self._fs.exists(path):
            raise DatasetError(
                f"{path} already exists and raw files are never overwritten. "
                f"Delete or move it first if you really want a new synthetic file."
            )
        if isinstance(data, pd.DataFrame):
            super().save(data)
        else:
            self._save_blocks(path, data)
        provenance = getattr(data, "attrs", {}).get("provenance")
        if self._provenance_sidecar and provenance:
            write_sidecar(self._fs, path, provenance)

    def _save_blocks(self, path: str, data: Iterable[pd.DataFrame]) -> None:
        try:
            with self._fs.open(path, **self._fs_open_args_save) as handle:
                for number, frame in enumerate(data):
                    frame.to_csv(handle, **{**self._save_args, "header": number == 0})
        except BaseException:
            # Half a raw file must not pass for a whole one (and block the next save).
            if self._fs.exists(path):
                self._fs.rm(path)
            raise
        self._invalidate_cache()
