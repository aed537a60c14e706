"""Fixtures of the fault-injection suite: every case runs on local disk and on an S3 server on
127.0.0.1 (moto, tests/aws/loopback_aws.py), through the same datasets the pipelines use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pytest

from tests.aws.loopback_aws import REGION, LoopbackAWS, loopback_aws


@dataclass
class Backend:
    """Where a case's artifacts live: a local folder or a fresh bucket on the loopback server."""

    name: str
    root: str
    credentials: dict[str, Any] = field(default_factory=dict)

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        protocol = "s3" if self.root.startswith("s3://") else "file"
        return fsspec.filesystem(protocol, skip_instance_cache=True, **self.credentials)

    def files(self, *parts: str) -> dict[str, bytes]:
        """Every file under a folder, by path relative to it: the state a fault must not lose."""
        fs, folder = self.fs, self.path(*parts)
        if not fs.exists(folder):
            return {}
        base = folder.split("://", 1)[-1].rstrip("/")
        return {f.removeprefix(base + "/"): fs.cat_file(f) for f in fs.find(folder)}

    def read(self, *parts: str) -> bytes | None:
        try:
            return self.fs.cat_file(self.path(*parts))
        except FileNotFoundError:
            return None

    def write(self, content: bytes, *parts: str) -> None:
        self.fs.pipe_file(self.path(*parts), content)

    def delete(self, *parts: str) -> None:
        self.fs.rm(self.path(*parts))


@pytest.fixture(scope="session")
def loopback(tmp_path_factory) -> LoopbackAWS:
    with loopback_aws(tmp_path_factory.mktemp("reliability-aws")) as server:
        yield server


def s3_credentials(aws: LoopbackAWS) -> dict[str, Any]:
    return {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": aws.endpoint, "region_name": REGION},
    }


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path) -> Backend:
    if request.param == "local":
        return Backend("local", str(tmp_path / "store"))
    aws = request.getfixturevalue("loopback")
    bucket = f"reliability-{uuid.uuid4().hex[:10]}"
    aws.create_buckets(bucket)
    return Backend("s3", f"s3://{bucket}", s3_credentials(aws))
