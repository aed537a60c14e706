"""Convert stores of the old layout (before Delta Lake: ``_commits/``, ``_manifest.json``) into
Delta tables, in place.

    python -m diab_readmit.storage_convert [--env aws] [--dry-run]

Run it from the project folder; it finds the gold feature and label stores and the scored
stores through the catalog of ``--env``. For each pair in the old layout it reads the rows
of the pair's current commit (the one ``_manifest.json`` names), moves the old folders to
``<store>.pre-delta`` (kept: delete them once you trust the tables), and saves the rows as
version 0 of each table, committed as a pair like a run commits them. Stores already in
Delta (or never written) are left alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io.core import get_protocol_and_path

from diab_readmit.datasets import table_pairs

#: Pairs of catalog entries: the store that commits first, then the one recording the pair.
PAIRS = (
    ("feature_store@frame", "label_store@frame"),
    ("inference.scored_features", "inference.predictions"),
)


def old_rows(path: str, storage: dict[str, Any]) -> pd.DataFrame | None:
    """The rows of the current commit of an old-layout store, or None if it is not one."""
    protocol, root = get_protocol_and_path(path)
    fs = fsspec.filesystem(protocol, **storage)
    root = root.rstrip("/")
    if fs.exists(f"{root}/_delta_log") or not fs.exists(f"{root}/_manifest.json"):
        return None
    manifest = json.loads(fs.cat_file(f"{root}/_manifest.json"))
    tables = []
    for partition in manifest["partitions"]:
        with fs.open(f"{root}/{partition['file']}", "rb") as handle:
            tables.append(pq.read_table(handle))
    if tables:
        frame = pa.concat_tables(tables, promote_options="default").to_pandas()
    else:
        frame = pd.DataFrame(columns=manifest.get("columns", []))
    frame.attrs = manifest.get("attrs", {})
    return frame


def convert(catalog: Any, dry_run: bool) -> list[str]:
    """Convert every old-layout pair of ``catalog``; one line per store converted."""
    lines = []
    for names in PAIRS:
        stores = [catalog.get(name) for name in names]
        storage = [store._fs_credentials for store in stores]
        frames = [
            old_rows(s.shown_path, c) for s, c in zip(stores, storage, strict=True)
        ]
        if all(frame is None for frame in frames):
            continue
        if any(frame is None for frame in frames):
            missing = [
                s.shown_path for s, f in zip(stores, frames, strict=True) if f is None
            ]
            lines.append(
                f"skipped {', '.join(s.shown_path for s in stores)}: the pair is incomplete "
                f"(no old-layout store at {', '.join(missing)}); rebuild it instead"
            )
            continue
        verb = "would convert" if dry_run else "converted"
        lines += [
            f"{verb} {s.shown_path} ({len(f):,} rows; old files kept in "
            f"{s.shown_path}.pre-delta)"
            for s, f in zip(stores, frames, strict=True)
        ]
        if dry_run:
            continue
        for store, credentials in zip(stores, storage, strict=True):
            protocol, root = get_protocol_and_path(store.shown_path)
            fs = fsspec.filesystem(protocol, **credentials)
            fs.mv(root.rstrip("/"), f"{root.rstrip('/')}.pre-delta", recursive=True)
        table_pairs.start_new_run()
        for store, frame in zip(stores, frames, strict=True):
            store.save(frame)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m diab_readmit.storage_convert",
        description="Convert the gold and scored stores of the old layout to Delta tables.",
    )
    parser.add_argument(
        "--env", default=None, help="Kedro environment (default: local; aws for S3)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="only list what would be converted"
    )
    args = parser.parse_args(argv)
    bootstrap_project(Path.cwd())
    with KedroSession.create(project_path=Path.cwd(), env=args.env) as session:
        lines = convert(session.load_context().catalog, args.dry_run)
    sys.stdout.write(("\n".join(lines) if lines else "Nothing to convert.") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
