"""Files in a local directory, served by the API at HMAC-signed URLs."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from lamina.errors import ObjectNotFound, StorageUnavailable
from lamina.storage.base import check_key, check_prefix

SECRET_FILE = "signing.key"
_PROBE_KEY = "health/probe"


@contextlib.contextmanager
def _unavailable(what: str) -> Iterator[None]:
    """File system errors as :class:`StorageUnavailable`, naming the key but not the path."""
    try:
        yield
    except OSError as exc:
        raise StorageUnavailable(
            f"the file storage could not {what}: {exc.strerror or type(exc).__name__}"
        ) from exc


def load_or_create_secret(path: Path) -> bytes:
    """The URL-signing secret kept at ``path`` (mode 0600), created on first use.

    Safe when several processes start together: the file is created with ``O_EXCL`` from a
    complete temporary file, so every process reads the same secret.
    """
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, secrets.token_hex(32).encode())
        os.close(fd)
        with contextlib.suppress(FileExistsError):  # another process won the race
            os.link(tmp, path)  # atomic: the name appears with its full content
    finally:
        os.unlink(tmp)
    return bytes.fromhex(path.read_text().strip())


class LocalStorage:
    """Objects as files under ``root``; URLs are ``{base_url}/v1/files/{key}?expires=&sig=``."""

    serves_links = True

    def __init__(self, root: Path, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must have at least 16 bytes")
        self.root = Path(root).resolve()
        # a directory that cannot be made now is an outage that may pass, not a reason to
        # refuse to start: every operation raises StorageUnavailable until it is usable
        with contextlib.suppress(OSError):
            self.root.mkdir(parents=True, exist_ok=True)
        self._secret = secret

    def path(self, key: str) -> Path:
        """The file holding ``key`` (for streaming responses); raises :class:`ObjectNotFound`
        (:class:`StorageUnavailable` when the storage directory itself is gone)."""
        path = self.root / check_key(key)
        if not path.is_file():
            if not self.root.is_dir():
                raise StorageUnavailable("the storage directory is missing or not a directory")
            raise ObjectNotFound(f"no stored object {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write atomically (temporary file + rename), so readers never see half a file."""
        path = self.root / check_key(key)
        with _unavailable(f"store {key!r}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".put-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def get(self, key: str) -> bytes:
        path = self.path(key)
        with _unavailable(f"read {key!r}"):
            try:
                return path.read_bytes()
            except FileNotFoundError:  # deleted since path() looked
                raise ObjectNotFound(f"no stored object {key!r}") from None

    def delete(self, key: str) -> None:
        path = self.root / check_key(key)
        with _unavailable(f"delete {key!r}"):
            path.unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        check_prefix(prefix)
        if prefix.endswith("/"):
            shutil.rmtree(self.root / prefix, ignore_errors=True)
            return
        parent = (self.root / prefix).parent
        with _unavailable(f"delete {prefix!r}*"):
            if parent.is_dir():
                name = Path(prefix).name
                for entry in parent.iterdir():
                    if entry.name.startswith(name):
                        if entry.is_dir():
                            shutil.rmtree(entry, ignore_errors=True)
                        else:
                            entry.unlink(missing_ok=True)

    def check(self) -> None:
        """Raise :class:`StorageUnavailable` unless a file can be written and read back."""
        self.put(_PROBE_KEY, b"ok", "text/plain")
        if self.get(_PROBE_KEY) != b"ok":
            raise StorageUnavailable("the storage directory gave back other bytes than written")

    def sign(self, key: str, expires: int) -> str:
        """Hex HMAC-SHA256 of ``key`` and its expiry time (Unix seconds)."""
        message = f"{check_key(key)}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def url(self, key: str, *, base_url: str, expires_s: int) -> str:
        expires = int(time.time()) + int(expires_s)
        return (
            f"{base_url.rstrip('/')}/v1/files/{quote(check_key(key))}"
            f"?expires={expires}&sig={self.sign(key, expires)}"
        )

    def verify(self, key: str, expires: int | str, sig: str) -> bool:
        """Whether ``sig`` signs ``key`` until ``expires`` and that time has not passed."""
        try:
            expires_at = int(expires)
            expected = self.sign(key, expires_at)
        except (ValueError, TypeError):
            return False
        if expires_at < time.time():
            return False
        return hmac.compare_digest(expected, str(sig))
