"""The S3 settings of conf/aws (globals `fs_args`) against a faulty S3 endpoint on 127.0.0.1:
transient errors are retried with backoff until the read succeeds; permanent ones fail on the
first request, as the error a caller can name (PermissionError, FileNotFoundError)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fsspec
import pytest
import yaml

from tests.aws.loopback_aws import REGION
from tests.conftest import PROJECT

BODY = b"the object's bytes"
FS_ARGS = yaml.safe_load((PROJECT / "conf/aws/globals.yml").read_text())["fs_args"]


class FaultyS3:
    """Answers every request with the next of ``faults``, then with the object."""

    def __init__(self, faults: list[tuple[int, str] | str]):
        self.faults = list(faults)
        self.requests: list[tuple[str, str]] = []


def _handler(state: FaultyS3):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            state.requests.append((self.command, self.path))
            fault = state.faults.pop(0) if state.faults else None
            if fault == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.connection.close()
                return
            if fault is None:
                status, body = 200, BODY
            else:
                code = fault[1]
                status = fault[0]
                body = f"<Error><Code>{code}</Code><Message>{code}</Message></Error>".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    return Handler


@contextmanager
def faulty_s3(faults) -> Iterator[tuple[FaultyS3, fsspec.AbstractFileSystem]]:
    state = FaultyS3(faults)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fs = fsspec.filesystem(
            "s3",
            key="testing",
            secret="testing",
            skip_instance_cache=True,
            client_kwargs={
                "endpoint_url": f"http://127.0.0.1:{server.server_port}",
                "region_name": REGION,
            },
            **FS_ARGS,
        )
        yield state, fs
    finally:
        server.shutdown()
        thread.join()


@pytest.mark.parametrize(
    "faults",
    [
        [(503, "SlowDown"), (503, "SlowDown")],
        [(500, "InternalError"), (503, "ServiceUnavailable")],
        ["drop", "drop"],
    ],
    ids=["throttled", "server-errors", "dropped-connections"],
)
def test_transient_errors_are_retried_until_the_read_succeeds(faults):
    with faulty_s3(faults) as (state, fs):
        assert fs.cat_file("datamart/gold/feature_store/_manifest.json") == BODY
    assert state.faults == [], "every fault was answered by a retry"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ((403, "AccessDenied"), PermissionError),
        ((404, "NoSuchBucket"), FileNotFoundError),
        ((404, "NoSuchKey"), FileNotFoundError),
    ],
    ids=["access-denied", "no-such-bucket", "no-such-key"],
)
def test_permanent_errors_fail_on_the_first_request(fault, error):
    with faulty_s3([fault] * 10) as (state, fs), pytest.raises(error):
        fs.cat_file("datamart/gold/feature_store/_manifest.json")
    # s3fs may look once whether the key is a folder (a different request); nothing is retried
    assert len(state.requests) == len(set(state.requests)) <= 2, state.requests
