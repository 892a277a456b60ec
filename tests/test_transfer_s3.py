"""Transfers over S3 (``scratchspaces._transfer`` through fsspec): publish and install, on loopback.

The server is moto's standalone server (real HTTP, real S3 wire protocol) bound to
127.0.0.1; the client side is exactly what a user runs: ``fsspec.core.url_to_fs`` on an
``s3://`` URL, served by ``s3fs``. scratchspaces passes no options to fsspec, so the
endpoint and the (dummy) credentials come from the environment, as in a deployment:
``AWS_ENDPOINT_URL_S3`` (read by botocore), backed by fsspec's own configuration so that
no request can reach real AWS whatever the botocore version.

Skipped when the optional ``s3fs`` or ``moto`` (with its server's ``flask`` and
``flask-cors``) is not installed.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from _depots import names_in
from _fills import writer

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")  # a dependency of moto

import fsspec.config  # noqa: E402 - after the skips; s3fs depends on fsspec

from scratchspaces import artifacts  # noqa: E402 - after the skips
from scratchspaces.artifacts import DownloadError, HashMismatch  # noqa: E402 - after the skips

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

FILES = {
    "README.txt": b"an artifact that went through S3\n",
    "data/numbers.csv": b"a,b\n1,2\n3,4\n",
    "data/empty.bin": b"",
}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a free port chosen by the OS), for this module."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        assert host == "127.0.0.1"
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class Bucket:
    """A fresh bucket on the loopback server, and a boto3 client to inspect it."""

    name: str
    client: Any

    def url(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def get(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return body

    def keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.name)
        return sorted(obj["Key"] for obj in listed.get("Contents", []))


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bucket]:
    """Point every S3 client at the loopback server with dummy credentials; make a bucket."""
    for var in list(os.environ):
        if var.startswith("AWS_"):  # the caller's profile, keys, CA bundle, endpoints...
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    # fsspec's configuration (what FSSPEC_S3_* variables fill at import): the endpoint
    # for s3fs even with a botocore too old to read AWS_ENDPOINT_URL_S3.
    monkeypatch.setitem(fsspec.config.conf, "s3", {"client_kwargs": {"endpoint_url": s3_endpoint}})
    # s3fs caches instances (and their clients) across calls: none from another test.
    s3fs.S3FileSystem.clear_instance_cache()
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    name = f"scratchspaces-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    yield Bucket(name, client)
    s3fs.S3FileSystem.clear_instance_cache()
    client.close()


def _make_artifact() -> str:
    return artifacts.create_artifact(writer(FILES))


@pytest.fixture
def published(bucket: Bucket) -> tuple[str, str, str]:
    """An artifact published to ``s3://<bucket>/some/prefix``: ``(hash, url, sha256)``."""
    h = _make_artifact()
    url, sha256 = artifacts.publish_artifact(h, bucket.url("some/prefix"))
    return h, url, sha256


@pytest.fixture
def fresh_depot(
    published: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Once the artifact is published, switch to a new, empty depot that lacks it."""
    depot = tmp_path / "fresh-depot"
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", str(depot))
    assert not artifacts.artifact_exists(published[0])
    return depot


def test_publish_uploads_the_tarball(
    tmp_path: Path, bucket: Bucket, published: tuple[str, str, str]
) -> None:
    h, url, sha256 = published
    assert url == bucket.url(f"some/prefix/{h}.tar.gz")
    assert bucket.keys() == [f"some/prefix/{h}.tar.gz"]
    body = bucket.get(f"some/prefix/{h}.tar.gz")
    assert hashlib.sha256(body).hexdigest() == sha256
    # The very bytes archive_artifact writes locally: deterministic, uploaded unchanged.
    local = tmp_path / "local.tar.gz"
    assert artifacts.archive_artifact(h, local) == sha256
    assert local.read_bytes() == body


def test_publish_with_trailing_slash(bucket: Bucket) -> None:
    h = _make_artifact()
    url, sha256 = artifacts.publish_artifact(h, bucket.url("other/"))
    assert url == bucket.url(f"other/{h}.tar.gz")
    assert hashlib.sha256(bucket.get(f"other/{h}.tar.gz")).hexdigest() == sha256


def test_install_from_s3_into_a_fresh_depot(
    tmp_path: Path, published: tuple[str, str, str], fresh_depot: Path
) -> None:
    h, url, sha256 = published
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "dataset", h, download_info=[(url, sha256)])
    assert not artifacts.artifact_exists(h)

    path = artifacts.ensure_artifact_installed("dataset", toml)

    assert path == fresh_depot / "artifacts" / h
    assert artifacts.tree_hash(path) == h
    assert artifacts.verify_artifact(h)
    for rel, content in FILES.items():
        assert (path / rel).read_bytes() == content
    assert names_in(fresh_depot / "artifacts") == [h]
    # Installed: a second call downloads nothing and returns the same path.
    assert artifacts.ensure_artifact_installed("dataset", toml) == path


def test_install_with_size(
    tmp_path: Path, bucket: Bucket, published: tuple[str, str, str], fresh_depot: Path
) -> None:
    h, url, sha256 = published
    size = len(bucket.get(f"some/prefix/{h}.tar.gz"))
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "dataset", h, download_info=[(url, sha256, size)])
    path = artifacts.ensure_artifact_installed("dataset", toml)
    assert artifacts.tree_hash(path) == h


def test_missing_key_falls_back_to_the_next_source(
    tmp_path: Path, bucket: Bucket, published: tuple[str, str, str], fresh_depot: Path
) -> None:
    h, url, sha256 = published
    missing = bucket.url(f"nowhere/{h}.tar.gz")
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "dataset", h, download_info=[(missing, sha256), (url, sha256)])

    path = artifacts.ensure_artifact_installed("dataset", toml)

    assert artifacts.tree_hash(path) == h
    assert (path / "README.txt").read_bytes() == FILES["README.txt"]
    assert names_in(fresh_depot / "artifacts") == [h]


def test_every_source_missing_names_each(
    tmp_path: Path, bucket: Bucket, published: tuple[str, str, str], fresh_depot: Path
) -> None:
    h, _, sha256 = published
    first = bucket.url(f"nowhere/{h}.tar.gz")
    second = f"s3://no-such-bucket-{uuid.uuid4().hex[:12]}/{h}.tar.gz"
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "dataset", h, download_info=[(first, sha256), (second, sha256)])

    with pytest.raises(DownloadError) as info:
        artifacts.ensure_artifact_installed("dataset", toml)

    message = str(info.value)
    assert first in message
    assert second in message
    assert names_in(fresh_depot / "artifacts") == []
    assert not artifacts.artifact_exists(h)


def test_wrong_sha256_raises_and_leaves_nothing(
    tmp_path: Path, published: tuple[str, str, str], fresh_depot: Path
) -> None:
    h, url, sha256 = published
    wrong = "0" * 64
    assert wrong != sha256
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "dataset", h, download_info=[(url, wrong)])

    with pytest.raises(HashMismatch) as info:
        artifacts.ensure_artifact_installed("dataset", toml)

    assert wrong in str(info.value)
    assert sha256 in str(info.value)
    assert names_in(fresh_depot / "artifacts") == []
    assert not artifacts.artifact_exists(h)


def test_endpoint_from_the_aws_environment_alone(
    tmp_path: Path, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a deployment does: only ``AWS_ENDPOINT_URL_S3``, no fsspec configuration."""
    monkeypatch.delitem(fsspec.config.conf, "s3")
    s3fs.S3FileSystem.clear_instance_cache()
    # Checked without a request: this botocore must resolve the endpoint from the
    # environment, else the round trip below would go to real AWS.
    probe = boto3.client("s3")
    endpoint = probe.meta.endpoint_url
    probe.close()
    if not endpoint.startswith("http://127.0.0.1:"):
        pytest.skip(f"this botocore ignores AWS_ENDPOINT_URL_S3 (resolves {endpoint})")

    h = _make_artifact()
    url, sha256 = artifacts.publish_artifact(h, bucket.url("env-only"))
    assert bucket.keys() == [f"env-only/{h}.tar.gz"]

    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", str(tmp_path / "fresh-depot"))
    assert not artifacts.artifact_exists(h)
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "dataset", h, download_info=[(url, sha256)])
    assert artifacts.tree_hash(artifacts.ensure_artifact_installed("dataset", toml)) == h


def test_publishing_to_a_missing_bucket_fails_and_creates_no_bucket(bucket: Bucket) -> None:
    h = _make_artifact()
    missing = f"{bucket.name}-typo"
    with pytest.raises(DownloadError, match="upload failed"):
        artifacts.publish_artifact(h, f"s3://{missing}/prefix")
    names = [b["Name"] for b in bucket.client.list_buckets()["Buckets"]]
    assert missing not in names
