"""Remove what the stores keep but nothing reads: folders of killed saves, and snapshots no
registered model was trained on.

    python -m diab_readmit.storage_cleanup --older-than 2h             # killed saves
    python -m diab_readmit.storage_cleanup --keep-snapshots 3          # unused snapshots
    python -m diab_readmit.storage_cleanup --older-than 2h --keep-snapshots 3 --env aws --dry-run

Run it from the project folder; it finds every store through the catalog of ``--env``
(``local`` by default), so it cleans exactly where ``kedro run`` writes, on disk or on S3.

- ``--older-than AGE`` (``45m``, ``2h``, ``7d``): deletes the id folders without a commit
  marker (commit_protocol), in the gold stores, the snapshot folder and every algorithm's
  registry, that were claimed more than AGE ago, and leftover ``*.tmp-*`` files as old. A
  younger one may be a save still running in another process: give an age longer than any
  run takes.
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


def clean(
    catalog: Any,
    older_than: timedelta | None,
    keep_snapshots: int | None,
    dry_run: bool,
) -> list[str]:
    """Apply the cleanup to the stores of ``catalog``; returns one line per deleted item."""
    stores = {
        "feature store": catalog.get("feature_store@frame"),
        "label store": catalog.get("label_store@frame"),
        "preprocessed snapshots": catalog.get("preprocessed_snapshot"),
        **{
            f"{name} registry": catalog.get(f"{name}.model_registry@bundle")
            for name in ALGORITHMS
        },
    }
    verb = "would delete" if dry_run else "deleted"
    lines = []
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
        description="Remove folders of killed saves and snapshots no registered model was trained on.",
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
    if args.older_than is None and args.keep_snapshots is None:
        parser.error("give --older-than AGE, --keep-snapshots N, or both")
    if args.keep_snapshots is not None and args.keep_snapshots < 0:
        parser.error("--keep-snapshots must be 0 or more")

    bootstrap_project(Path.cwd())
    with KedroSession.create(project_path=Path.cwd(), env=args.env) as session:
        catalog = session.load_context().catalog
        lines = clean(catalog, args.older_than, args.keep_snapshots, args.dry_run)
    sys.stdout.write(("\n".join(lines) if lines else "Nothing to delete.") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
