"""Permanent storage errors, named: which bucket, which key prefix, what to check.

s3fs turns S3's AccessDenied into ``PermissionError('Forbidden')`` and NoSuchBucket into
``FileNotFoundError('The specified bucket does not exist')``, neither naming the bucket. The
datasets raise them again as a DatasetError saying where and what to do. Transient errors
never get here: botocore's "standard" retry mode (conf/aws/globals.yml ``fs_args``) retries
them first (tests/aws/test_s3_retries.py).

A missing *key* stays a FileNotFoundError: the datasets read it as "nothing saved yet".
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from kedro.io.core import DatasetError, get_protocol_and_path

#: The environment variables conf/aws/globals.yml takes the bucket names from.
BUCKET_SETTINGS = (
    "DIAB_DATAMART_BUCKET or DIAB_MODEL_REGISTRY_BUCKET, read by conf/aws/globals.yml"
)


def is_missing_bucket(error: BaseException) -> bool:
    """True for s3fs's NoSuchBucket, which must not pass for 'this key is not there yet'."""
    text = str(error)
    return isinstance(error, FileNotFoundError) and (
        "bucket does not exist" in text or "NoSuchBucket" in text
    )


def _where(path: str) -> str:
    protocol, stripped = get_protocol_and_path(path)
    bucket, _, prefix = stripped.partition("/")
    if protocol == "file":
        return path
    return f"{path} (bucket '{bucket}', key prefix '{prefix.rstrip('/')}/')"


@contextmanager
def storage_errors_named(path: str, action: str) -> Iterator[None]:
    """Raise access-denied and missing-bucket errors of ``action`` on ``path`` as DatasetErrors."""
    local = get_protocol_and_path(path)[0] == "file"
    try:
        yield
    except PermissionError as exc:
        if local:
            raise DatasetError(
                f"Permission denied while {action} {path}: {exc}. Make the folder writable by "
                f"this user (`chmod -R u+w`, or `chown`), or point data_root / paths in "
                f"conf/local/globals.yml at a folder you can write."
            ) from exc
        raise DatasetError(
            f"Access denied while {action} {_where(path)}: {exc}. This does not go away by "
            f"retrying: check that the bucket name is right ({BUCKET_SETTINGS}) and that the "
            f"task role (or your AWS profile) may list, read, write and delete objects there "
            f"(s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject)."
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DatasetError(
                f"No space left on the device while {action} {path}. Nothing half-written is "
                f"read (the commit marker is written last, temporary files are removed); free "
                f"space or move data_root (conf/<env>/globals.yml) to a larger disk, then run "
                f"again."
            ) from exc
        if not is_missing_bucket(exc):
            raise
        raise DatasetError(
            f"The bucket of {_where(path)} does not exist (while {action} it). Check the "
            f"bucket name ({BUCKET_SETTINGS}) and the region, or create the bucket; "
            f"the pipelines never create buckets."
        ) from exc
