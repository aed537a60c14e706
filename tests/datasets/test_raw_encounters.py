"""The raw CSV dataset refuses files that are not a comma-separated UTF-8 CSV with one line
that says what the file is, where, and how to convert it (issue 13's weak answers)."""

from __future__ import annotations

import gzip

import pytest
from kedro.io.core import DatasetError

from diab_readmit.datasets.raw_encounters import RawEncountersCSVDataset
from diab_readmit.pipelines.data_processing.raw_schema import RAW_COLUMNS

HEADER = ",".join(RAW_COLUMNS)
ROW = ",".join(["1"] * len(RAW_COLUMNS))


def _load(path):
    return RawEncountersCSVDataset(
        filepath=str(path), load_args={"dtype": str, "keep_default_na": False}
    ).load()


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message.strip(), message
    return message


def test_a_comma_separated_utf8_file_loads(tmp_path):
    path = tmp_path / "diabetic_data.csv"
    path.write_text(f"{HEADER}\n{ROW}\n")
    assert list(_load(path).columns) == RAW_COLUMNS


def test_semicolon_delimited_file_is_named_as_such(tmp_path):
    path = tmp_path / "diabetic_data.csv"
    path.write_text(f"{HEADER.replace(',', ';')}\n{ROW.replace(',', ';')}\n")
    with pytest.raises(DatasetError) as error:
        _load(path)
    message = _one_line(error)
    assert (
        "semicolons (';'), not commas" in message
        and str(path) in message
        and "load_args.sep" in message
    )


def test_gzip_file_named_csv_says_compressed_and_how_to_decompress(tmp_path):
    path = tmp_path / "diabetic_data.csv"
    path.write_bytes(gzip.compress(f"{HEADER}\n{ROW}\n".encode()))
    with pytest.raises(DatasetError) as error:
        _load(path)
    message = _one_line(error)
    assert f"{path} is gzip-compressed" in message and "gunzip" in message
    assert "0x8b" not in message


def test_latin1_bytes_name_the_line_and_how_to_convert(tmp_path):
    path = tmp_path / "diabetic_data.csv"
    bad_row = ROW.replace("1", "Jos\u00e9", 1)
    path.write_bytes(f"{HEADER}\n{ROW}\n{bad_row}\n".encode("latin-1"))
    with pytest.raises(DatasetError) as error:
        _load(path)
    message = _one_line(error)
    assert f"{path} is not UTF-8 text: byte 0xe9 on line 3 (field 1)" in message
    assert "iconv -f latin1 -t utf-8" in message


def test_empty_file_and_folder_get_one_line_each(tmp_path):
    empty = tmp_path / "diabetic_data.csv"
    empty.write_bytes(b"")
    with pytest.raises(DatasetError) as error:
        _load(empty)
    assert f"{empty} is empty (0 bytes)" in _one_line(error)
    assert "No columns to parse" not in str(error.value)

    folder = tmp_path / "raw"
    folder.mkdir()
    with pytest.raises(DatasetError) as error:
        _load(folder)
    message = _one_line(error)
    assert f"{folder} is a folder, not a file" in message and "Errno 21" not in message
