"""Local directory storage: safe keys, atomic writes, signed URLs, the signing secret."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from lamina.config import Settings
from lamina.storage import (
    InvalidKey,
    LocalStorage,
    ObjectNotFound,
    StorageUnavailable,
    check_key,
    open_storage,
)
from lamina.storage.local import load_or_create_secret


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files", b"s" * 32)


def test_put_get_delete(storage: LocalStorage) -> None:
    storage.put("jobs/a/layer_00.png", b"png", "image/png")
    assert storage.get("jobs/a/layer_00.png") == b"png"
    storage.put("jobs/a/layer_00.png", b"new", "image/png")
    assert storage.get("jobs/a/layer_00.png") == b"new"
    assert storage.path("jobs/a/layer_00.png").read_bytes() == b"new"
    storage.delete("jobs/a/layer_00.png")
    storage.delete("jobs/a/layer_00.png")  # absent is fine
    with pytest.raises(ObjectNotFound):
        storage.get("jobs/a/layer_00.png")
    assert not [p for p in storage.root.rglob("*") if p.name.startswith(".put-")]


def test_a_storage_directory_that_is_gone_is_unavailable_not_empty(
    storage: LocalStorage,
) -> None:
    """The directory swapped for a file (as a failed mount or a full disk leaves it; chmod
    does not stop root): every call says the storage is unavailable, not that the object is
    missing, and all works again once the directory is back."""
    storage.put("jobs/a/x", b"1", "image/png")
    storage.check()
    aside = storage.root.with_name("files.aside")
    storage.root.rename(aside)
    storage.root.write_bytes(b"not a directory")
    for call in (
        lambda: storage.put("jobs/a/y", b"2", "image/png"),
        lambda: storage.get("jobs/a/x"),
        lambda: storage.delete("jobs/a/x"),
        storage.check,
    ):
        with pytest.raises(StorageUnavailable, match="storage") as caught:
            call()
        assert str(storage.root) not in str(caught.value)  # no server paths in messages
    storage.root.unlink()
    aside.rename(storage.root)
    storage.check()
    assert storage.get("jobs/a/x") == b"1"


def test_delete_prefix(storage: LocalStorage) -> None:
    for key in ("jobs/a/x", "jobs/a/y", "jobs/ab/z", "inputs/a1", "inputs/a2", "inputs/b"):
        storage.put(key, b"1", "application/octet-stream")
    storage.delete_prefix("jobs/a/")
    assert storage.get("jobs/ab/z") == b"1"
    with pytest.raises(ObjectNotFound):
        storage.get("jobs/a/x")
    storage.delete_prefix("inputs/a")
    assert storage.get("inputs/b") == b"1"
    with pytest.raises(ObjectNotFound):
        storage.get("inputs/a2")


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "/abs",
        "a/../b",
        "a//b",
        ".hidden",
        "a/.x",
        "",
        "a/",
        "a\\b",
        "é",
        "a b",
        "x" * 600,
    ],
)
def test_unsafe_keys_are_refused(storage: LocalStorage, key: str) -> None:
    with pytest.raises(InvalidKey):
        check_key(key)
    with pytest.raises(InvalidKey):
        storage.put(key, b"x", "text/plain")
    with pytest.raises(InvalidKey):
        storage.get(key)


def test_signed_urls(storage: LocalStorage) -> None:
    url = storage.url("jobs/a/layers.zip", base_url="http://h:8000/", expires_s=60)
    parts = urlsplit(url)
    assert parts.path == "/v1/files/jobs/a/layers.zip"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert storage.verify("jobs/a/layers.zip", query["expires"], query["sig"])
    assert not storage.verify("jobs/a/layer_00.png", query["expires"], query["sig"])
    assert not storage.verify("jobs/a/layers.zip", int(query["expires"]) + 1, query["sig"])
    assert not storage.verify("jobs/a/layers.zip", query["expires"], "0" * 64)
    assert not storage.verify("jobs/a/layers.zip", "soon", query["sig"])
    assert not storage.verify("../x", query["expires"], query["sig"])
    past = int(time.time()) - 1
    assert not storage.verify("jobs/a/layers.zip", past, storage.sign("jobs/a/layers.zip", past))
    other = LocalStorage(storage.root, b"t" * 32)
    assert not other.verify("jobs/a/layers.zip", query["expires"], query["sig"])


def test_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "signing.key"
    first = load_or_create_secret(path)
    assert len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret(path) == first
    assert [p.name for p in path.parent.iterdir()] == ["signing.key"]


def test_open_storage_defaults_to_the_data_dir(tmp_path: Path) -> None:
    storage = open_storage(Settings(data_dir=tmp_path))
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "files").resolve()
    assert (tmp_path / "signing.key").exists()
    again = open_storage(Settings(data_dir=tmp_path))
    assert isinstance(again, LocalStorage)
    url = storage.url("a", base_url="http://x", expires_s=5)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert again.verify("a", query["expires"], query["sig"])
