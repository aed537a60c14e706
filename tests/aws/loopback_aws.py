"""An AWS look-alike on 127.0.0.1 for the tests: moto's server (S3, ECS, EC2, CloudWatch Logs)
in a thread of the test process, started and stopped by the tests themselves.

Subprocesses (``kedro run --env aws``, Airflow) reach it through botocore's own endpoint
settings, exactly as a deployment would point at MinIO or LocalStack; they get fake
credentials and a config file of their own, so a developer's ~/.aws never leaks in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

REGION = "ap-southeast-1"
#: A developer's or CI's real AWS settings must not reach the processes under test.
_AWS_VARIABLES_TO_DROP = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


@dataclass(frozen=True)
class LoopbackAWS:
    endpoint: str
    config_dir: Path

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def environment(
        self, *, endpoint_variable: str = "AWS_ENDPOINT_URL_S3"
    ) -> dict[str, str]:
        """``os.environ`` for a subprocess that must talk to this server and nothing else.

        ``endpoint_variable`` is the botocore setting that points at the server:
        AWS_ENDPOINT_URL_S3 (S3 only, what the README tells MinIO users to set) or
        AWS_ENDPOINT_URL (every service, for Airflow's ECS and CloudWatch calls).
        """
        environment = {
            k: v for k, v in os.environ.items() if k not in _AWS_VARIABLES_TO_DROP
        }
        environment.update(
            {
                endpoint_variable: self.endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_CONFIG_FILE": str(self.config_dir / "config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.config_dir / "credentials"),
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        return environment

    def create_buckets(self, *names: str) -> None:
        s3 = self.client("s3")
        for name in names:
            s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
            )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        paginator = self.client("s3").get_paginator("list_objects_v2")
        return sorted(
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        )

    def read(self, bucket: str, key: str) -> bytes:
        return self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


@contextmanager
def loopback_aws(config_dir: Path) -> Iterator[LoopbackAWS]:
    """Start moto's server on a free port of 127.0.0.1; stop it on exit."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config").write_text(f"[default]\nregion = {REGION}\n")
    (config_dir / "credentials").write_text("")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield LoopbackAWS(endpoint=f"http://{host}:{port}", config_dir=config_dir)
    finally:
        server.stop()
