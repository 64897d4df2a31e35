"""S3 storage against a real (moto) S3 server on a loopback port; presigned URLs via httpx."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from lamina.config import Settings
from lamina.storage import InvalidKey, ObjectNotFound, S3Storage, open_storage
from lamina.storage.s3 import parse_s3_location


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def settings(endpoint: str, tmp_path: object) -> Settings:
    s = Settings(
        data_dir=str(tmp_path),
        storage="s3://lamina-test/some/prefix",
        s3_endpoint_url=endpoint,
        s3_region="us-east-1",
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
    )
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    buckets = [b["Name"] for b in client.list_buckets()["Buckets"]]
    if "lamina-test" not in buckets:
        client.create_bucket(Bucket="lamina-test")
    return s


def test_put_get_delete_under_the_prefix(settings: Settings) -> None:
    storage = open_storage(settings)
    assert isinstance(storage, S3Storage)
    storage.put("jobs/j1/layer_00.png", b"\x89PNG", "image/png")
    assert storage.get("jobs/j1/layer_00.png") == b"\x89PNG"
    head = storage.client.head_object(Bucket="lamina-test", Key="some/prefix/jobs/j1/layer_00.png")
    assert head["ContentType"] == "image/png"
    storage.delete("jobs/j1/layer_00.png")
    with pytest.raises(ObjectNotFound):
        storage.get("jobs/j1/layer_00.png")
    with pytest.raises(InvalidKey):
        storage.put("../escape", b"", "text/plain")


def test_delete_prefix_removes_only_that_prefix(settings: Settings) -> None:
    storage = open_storage(settings)
    for i in range(25):
        storage.client.put_object(Bucket="lamina-test", Key=f"some/prefix/jobs/big/f{i}", Body=b"x")
    storage.put("jobs/bigger/keep", b"k", "text/plain")
    storage.delete_prefix("jobs/big/")
    left = storage.client.list_objects_v2(Bucket="lamina-test", Prefix="some/prefix/jobs/big/")
    assert left.get("KeyCount", 0) == 0
    assert storage.get("jobs/bigger/keep") == b"k"


def test_presigned_urls_download_with_httpx(settings: Settings) -> None:
    storage = open_storage(settings)
    storage.put("jobs/j2/layers.zip", b"PK\x03\x04zip", "application/zip")
    url = storage.url("jobs/j2/layers.zip", base_url="http://ignored", expires_s=300)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"PK\x03\x04zip"
    # its links are S3's own: lamina's /v1/files/ serves none, whatever the signature
    assert not storage.serves_links
    assert not storage.verify("jobs/j2/layers.zip", "9999999999", "0" * 64)


def test_a_worker_writes_its_outputs_to_s3(settings: Settings) -> None:
    import threading

    import numpy as np
    from tests.support.engines import FastEngine

    from lamina.imaging.codec import encode_image
    from lamina.jobs.states import JobState
    from lamina.jobs.store import JobStore
    from lamina.jobs.worker import Worker

    storage = open_storage(settings)
    png = encode_image(np.full((8, 8, 4), 77, np.uint8))
    storage.put("inputs/s3-job.png", png, "image/png")
    store = JobStore(settings.resolved_database_url)
    store.migrate()
    try:
        job = store.submit(
            owner="k", model_id="m", params={"num_layers": 2}, input_key="inputs/s3-job.png"
        )
        Worker(store, storage, FastEngine, settings).run(  # type: ignore[arg-type]
            threading.Event(), max_jobs=1
        )
        done = store.get(job.id)
    finally:
        store.dispose()
    assert done.state is JobState.COMPLETED, done.error
    assert done.result is not None
    url = storage.url(done.result["exports"]["zip"], base_url="http://ignored", expires_s=60)
    response = httpx.get(url)
    assert response.status_code == 200 and response.content[:2] == b"PK"
    assert (
        httpx.get(storage.url(done.result["layers"][0], base_url="", expires_s=60)).content == png
    )


def test_parse_s3_location() -> None:
    assert parse_s3_location("s3://b") == ("b", "")
    assert parse_s3_location("s3://b/p/q/") == ("b", "p/q/")
    with pytest.raises(ValueError):
        parse_s3_location("s3:///p")
    with pytest.raises(ValueError):
        parse_s3_location("/tmp/files")
