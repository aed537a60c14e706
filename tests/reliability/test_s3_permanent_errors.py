"""Permanent S3 errors fail at once, naming the bucket and key prefix and what to check.

A missing bucket (moto on loopback) and access denied (an endpoint on 127.0.0.1 that answers
every request with 403 AccessDenied), for every load, save and exists of every stored dataset,
and once through `kedro run --env aws`. Transient errors (throttling, 5xx, dropped
connections) are retried by botocore's standard mode: tests/aws/test_s3_retries.py.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from kedro.io.core import DatasetError

from diab_readmit.datasets.delta_store import DeltaTableStore
from diab_readmit.datasets.delta_views import DeltaTableIndex
from diab_readmit.datasets.model_registry import (
    ModelRegistryDataset,
    ModelRegistryHistoryDataset,
)
from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset
from tests.aws.loopback_aws import REGION
from tests.aws.test_s3_retries import FS_ARGS
from tests.conftest import make_scratch_project
from tests.datasets.test_model_registry import _bundle
from tests.datasets.test_preprocessed_snapshot import _snapshot
from tests.reliability.conftest import s3_credentials

BUCKET = "diab-no-such-bucket"


def _gold_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "encounter_id": [1, 2],
            "partition_date": pd.to_datetime(["2005-01-01", "2005-02-01"]),
        }
    )


def _operations(bucket: str, credentials: dict) -> dict[str, Callable[[], object]]:
    """Every way a pipeline touches S3, on paths as conf/aws lays them out."""
    kwargs = {"credentials": credentials, "fs_args": FS_ARGS}
    snapshot = PreprocessedSnapshotDataset(
        path=f"s3://{bucket}/gold/preprocessed", **kwargs
    )
    registry = ModelRegistryDataset(path=f"s3://{bucket}/xgboost", **kwargs)
    history = ModelRegistryHistoryDataset(path=f"s3://{bucket}/xgboost", **kwargs)
    store = DeltaTableStore(path=f"s3://{bucket}/gold/feature_store", **kwargs)
    index = DeltaTableIndex(path=f"s3://{bucket}/gold/feature_store", **kwargs)
    return {
        "snapshot load": snapshot.load,
        "snapshot save": lambda: snapshot.save(_snapshot()),
        "snapshot exists": snapshot.exists,
        "registry load": registry.load,
        "registry save": lambda: registry.save(_bundle(with_plots=False)),
        "registry exists": registry.exists,
        "history load": history.load,
        "gold store load": store.load,
        "gold store save": lambda: store.save(_gold_frame()),
        "gold store exists": store.exists,
        "gold index load": index.load,
    }


OPERATIONS = list(_operations("b", {}))


@pytest.mark.parametrize("operation", OPERATIONS)
def test_missing_bucket_is_named_and_never_created(loopback, operation):
    started = time.monotonic()
    with pytest.raises(DatasetError) as caught:
        _operations(BUCKET, s3_credentials(loopback))[operation]()
    message = str(caught.value)
    assert f"bucket '{BUCKET}'" in message and "does not exist" in message, message
    assert "DIAB_DATAMART_BUCKET" in message and "key prefix" in message, message
    assert time.monotonic() - started < 10, "a permanent error must not be retried"
    buckets = [b["Name"] for b in loopback.client("s3").list_buckets()["Buckets"]]
    assert BUCKET not in buckets, (
        "a typo in a bucket name must never create that bucket"
    )


class _Forbidden(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests: list[str] = []

    def _deny(self):
        type(self).requests.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = (
            b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        )
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _deny

    def log_message(self, *args):
        pass


@contextmanager
def forbidden_s3() -> Iterator[dict]:
    _Forbidden.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "key": "testing",
            "secret": "testing",
            "skip_instance_cache": True,
            "client_kwargs": {
                "endpoint_url": f"http://127.0.0.1:{server.server_port}",
                "region_name": REGION,
            },
        }
    finally:
        server.shutdown()
        thread.join()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_access_denied_is_named_and_not_retried(operation):
    with forbidden_s3() as credentials, pytest.raises(DatasetError) as caught:
        _operations("diab-datamart", credentials)[operation]()
    message = str(caught.value)
    assert "Access denied while" in message and "bucket 'diab-datamart'" in message, (
        message
    )
    assert "task role" in message and "s3:GetObject" in message, message
    # No retries: each request at most once (s3fs may try a key and then the same as a folder).
    assert len(_Forbidden.requests) <= 3, _Forbidden.requests


def test_kedro_run_on_a_missing_bucket_names_it(loopback, tmp_path):
    project = make_scratch_project(tmp_path / "project")
    environment = loopback.environment()
    environment.update(
        KEDRO_DISABLE_TELEMETRY="true",
        NO_COLOR="1",
        COLUMNS="250",
        DIAB_DATAMART_BUCKET="diab-typo-datamart",
        DIAB_MODEL_REGISTRY_BUCKET=BUCKET,
    )
    environment.pop("ALGORITHM", None)
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("kedro")),
            "run",
            "--env",
            "aws",
            "--pipelines",
            "preprocessing",
        ],
        cwd=project.path,
        env=environment,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "bucket 'diab-typo-datamart'" in output and "does not exist" in output, (
        output[-3000:]
    )
    assert "DIAB_DATAMART_BUCKET" in output
