"""Remove what the stores keep but nothing reads: files of old Delta table versions, folders
of killed snapshot and registry saves, and snapshots no registered model was trained on.

    python -m diab_readmit.storage_cleanup --vacuum                    # old gold/scored files
    python -m diab_readmit.storage_cleanup --older-than 2h             # killed saves
    python -m diab_readmit.storage_cleanup --keep-snapshots 3          # unused snapshots
    python -m diab_readmit.storage_cleanup --vacuum --older-than 2h --keep-snapshots 3 --env aws --dry-run

Run it from the project folder; it finds every store through the catalog of ``--env``
(``local`` by default), so it cleans exactly where ``kedro run`` writes, on disk or on S3.

- ``--vacuum`` (Delta Lake ``VACUUM``, after an ``OPTIMIZE`` compaction of the scored stores,
  whose MERGEs leave many small files): deletes the files of the gold and scored tables that
  no version younger than ``--retention`` (default 7d) needs, and files no version ever
  committed (a killed write) older than that. The versions any complete snapshot was made
  from (its ``gold_tables``, and so every registered model's) and the current ones are
  always kept: they stay readable by time travel. Give a retention longer than any run
  takes: a run reads the versions it pinned at its start.
- ``--older-than AGE`` (``45m``, ``2h``, ``7d``): deletes the id folders without a commit
  marker (commit_protocol) in the snapshot folder and every algorithm's registry that were
  claimed more than AGE ago, and leftover ``*.tmp-*`` files as old. A younger one may be a
  save still running in another process: give an age longer than any run takes.
- ``--keep-snapshots N``: deletes complete snapshots that no registered version of any
  algorithm names as its ``snapshot_id``, except the newest N and the one ``latest.txt``
  names. A snapshot a model was trained on is never deleted, so every registered version
  stays reproducible.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from diab_readmit.algorithms import ALGORITHMS
from diab_readmit.datasets.delta_store import table_identity

_AGE = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_age(text: str) -> timedelta:
    """``45m``, ``2h``, ``7d`` or ``30s`` as a timedelta."""
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an age: write e.g. 45m, 2h or 7d"
        )
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


#: The Delta tables, by catalog name; the scored ones are compacted before the vacuum.
DELTA_TABLES = {
    "feature_store@frame": False,
    "label_store@frame": False,
    "inference.predictions": True,
    "inference.scored_features": True,
}


def vacuum_table(
    store: Any,
    keep_versions: set[int],
    retention: timedelta,
    dry_run: bool,
    compact: bool = False,
) -> list[str]:
    """VACUUM one Delta store (``compact``: OPTIMIZE first), keeping ``keep_versions`` and
    the newest version readable; one line per file deleted (or compaction done)."""
    table = store._table()
    if table is None:
        return []
    lines = []
    if compact and not dry_run:
        metrics = table.optimize.compact()
        if metrics.get("numFilesRemoved"):
            lines.append(
                f"compacted {store.shown_path}: {metrics['numFilesRemoved']} files into "
                f"{metrics['numFilesAdded']}"
            )
        table = store._table()
    removed = table.vacuum(
        retention_hours=int(retention.total_seconds() // 3600),
        dry_run=dry_run,
        enforce_retention_duration=False,
        full=True,  # also files no version ever named: a write killed before its commit
        keep_versions=sorted(keep_versions | {table.version()}),
    )
    verb = "would delete" if dry_run else "deleted"
    return lines + [f"{verb} {store.shown_path}/{file}" for file in sorted(removed)]


def vacuum_tables(catalog: Any, retention: timedelta, dry_run: bool) -> list[str]:
    """VACUUM every Delta table of ``catalog``, keeping the versions snapshots name (and
    so every registered model's) and the ones the current pairs read."""
    named = catalog.get("preprocessed_snapshot").gold_versions_named()
    named = {table_identity(path): versions for path, versions in named.items()}
    lines = []
    for name, compact in DELTA_TABLES.items():
        store = catalog.get(name)
        keep = named.get(store._identity, set())
        current = store.version()  # the version the project reads (its pair's record)
        if current is not None:
            keep = keep | {current}
        lines += vacuum_table(store, keep, retention, dry_run, compact)
    return lines


def clean(
    catalog: Any,
    older_than: timedelta | None,
    keep_snapshots: int | None,
    dry_run: bool,
    vacuum: bool = False,
    retention: timedelta = timedelta(days=7),
) -> list[str]:
    """Apply the cleanup to the stores of ``catalog``; returns one line per deleted item."""
    lines = vacuum_tables(catalog, retention, dry_run) if vacuum else []
    stores = {
        "preprocessed snapshots": catalog.get("preprocessed_snapshot"),
        **{
            f"{name} registry": catalog.get(f"{name}.model_registry@bundle")
            for name in ALGORITHMS
        },
    }
    verb = "would delete" if dry_run else "deleted"
    if older_than is not None:
        for label, store in stores.items():
            for removed in store.remove_incomplete(older_than, dry_run=dry_run):
                lines.append(f"{verb} incomplete save in the {label}: {removed}")
    if keep_snapshots is not None:
        trained_on = set().union(
            *(
                store.snapshots_trained_on()
                for label, store in stores.items()
                if label.endswith(" registry")
            )
        )
        snapshots = stores["preprocessed snapshots"]
        for snapshot_id in snapshots.remove_unused(
            trained_on, keep_snapshots, dry_run=dry_run
        ):
            lines.append(
                f"{verb} unused snapshot {snapshots._shown(snapshot_id)} "
                f"(no registered version was trained on it)"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m diab_readmit.storage_cleanup",
        description="Remove files of old Delta versions, folders of killed saves, and "
        "snapshots no registered model was trained on.",
    )
    parser.add_argument(
        "--vacuum",
        action="store_true",
        help="delete files of old Delta versions (the gold and scored tables)",
    )
    parser.add_argument(
        "--retention",
        type=parse_age,
        default=timedelta(days=7),
        metavar="AGE",
        help="with --vacuum: keep what versions younger than this need (default 7d)",
    )
    parser.add_argument(
        "--older-than",
        type=parse_age,
        metavar="AGE",
        help="delete incomplete saves claimed longer ago than this (45m, 2h, 7d)",
    )
    parser.add_argument(
        "--keep-snapshots",
        type=int,
        metavar="N",
        help="delete unused snapshots except the newest N",
    )
    parser.add_argument(
        "--env", default=None, help="Kedro environment (default: local; aws for S3)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="only list what would be deleted"
    )
    args = parser.parse_args(argv)
    if args.older_than is None and args.keep_snapshots is None and not args.vacuum:
        parser.error("give --vacuum, --older-than AGE, --keep-snapshots N, or several")
    if args.keep_snapshots is not None and args.keep_snapshots < 0:
        parser.error("--keep-snapshots must be 0 or more")

    bootstrap_project(Path.cwd())
    with KedroSession.create(project_path=Path.cwd(), env=args.env) as session:
        catalog = session.load_context().catalog
        lines = clean(
            catalog,
            args.older_than,
            args.keep_snapshots,
            args.dry_run,
            vacuum=args.vacuum,
            retention=args.retention,
        )
    sys.stdout.write(("\n".join(lines) if lines else "Nothing to delete.") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
