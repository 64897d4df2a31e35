"""Settings for the server and workers, from flags or ``LAMINA_*`` environment variables.

Built explicitly (``Settings()``) by the CLI or tests, never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, ByteSize, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from lamina.defaults import MAX_PIXELS


def normalize_database_url(url: str) -> str:
    """``postgresql://`` -> the psycopg 3 driver; anything else unchanged."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Settings(BaseSettings):
    """Every knob of ``lamina serve`` and ``lamina worker``; the flags override these."""

    model_config = SettingsConfigDict(env_prefix="LAMINA_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path("./lamina-data")
    public_url: str | None = None
    """Base URL clients see (behind a proxy); default: the address the request came to."""

    # job store and storage
    database_url: str | None = None
    """SQLAlchemy URL; default: SQLite in WAL mode at ``data_dir/lamina.db``."""
    storage: str | None = None
    """``s3://bucket/prefix`` or a directory; default: ``data_dir/files``."""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    retention_days: float = Field(default=7.0, gt=0)
    url_ttl_s: int = Field(default=7 * 24 * 3600, gt=0)
    """Lifetime of signed output URLs."""

    # workers
    engine: Literal["classic", "qwen", "auto"] | str = "classic"
    workers: int = Field(default=1, ge=0, le=64)
    lease_s: float = Field(default=60.0, gt=0)
    """A running job's lease; a worker that stops heartbeating loses its job after this."""
    max_attempts: int = Field(default=3, ge=1)
    job_timeout_s: float = Field(default=1800.0, gt=0)
    """Wall-clock limit of one job, from fetching its input to storing its outputs: past it
    the job fails, and a worker whose engine does not stop is replaced."""
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    """On SIGTERM a worker lets its job run this long, then hands it back to the queue."""
    webhook_secret: str | None = None
    """Master secret of the webhook signatures (at least 16 characters); every API process
    of a fleet needs the same. Default: one made on first use in ``data_dir``."""
    webhook_retry_s: float = Field(default=5.0, gt=0)
    """Wait before the second delivery attempt; it doubles after each failure (at most 1 h)."""
    webhook_max_attempts: int = Field(default=10, ge=1)
    max_wait_s: int = Field(default=60, ge=0, le=600)
    """Longest wait a submit may ask for with ``Prefer: wait=N`` (sync mode)."""
    cancel_running: bool = True
    """Whether cancel stops a running job (at the engine's next checkpoint). On by default:
    a cancelled job frees its worker (often a GPU) for the queue instead of finishing work
    nobody wants. Off restores the seed API's rule that in-progress jobs cannot be cancelled
    (``not_cancellable``), for clients that cancel blindly and still expect the result."""

    # qwen engine
    model: str | None = None
    """Local directory or Hugging Face repo id of the Qwen-Image-Layered weights."""
    device: str | None = None
    dtype: str | None = None
    cpu_offload: Literal["none", "model", "group", "sequential"] = "none"
    resolution: Annotated[Literal[640, 1024], BeforeValidator(int)] = 640
    """Accepted as a string too (``LAMINA_RESOLUTION=640``, as worker processes receive it)."""
    fp8: bool = False
    """Store the transformer's weights in float8: about 19 GiB instead of 38."""
    attention_backend: str | None = None
    """A diffusers attention backend (``flash``, ``_flash_3``, ``sage``, ...); default: torch's."""
    compile: bool = False
    """``torch.compile`` the transformer's blocks; the warm-up then takes minutes."""
    lora: str | None = None
    """A LoRA to load: a ``.safetensors`` file, a folder or a repo id."""

    # limits and security
    max_pixels: int = Field(default=MAX_PIXELS, gt=0)
    max_input_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_job_memory: ByteSize = Field(default=ByteSize(6 * 2**30), gt=0)
    """Estimated peak memory one job may need (bytes, or ``"6GiB"``); a worker refuses a
    bigger one before its engine runs. The default fits two jobs on a 16 GB machine."""
    fetch_timeout_s: float = Field(default=20.0, gt=0)
    allow_private_urls: bool = False
    rate_limit_per_minute: int = Field(default=600, ge=0)
    """Requests per key per minute; 0 turns rate limiting off."""
    auth_failures_per_minute: int = Field(default=30, ge=0)
    """Unknown or revoked keys per client address per minute (bursts up to that) before the
    address gets 429002 without a key lookup; 0 turns this off."""
    loopback_without_key: bool = False
    """Requests from this machine (a loopback address, no proxy headers) that send no key are
    served as the caller ``local``: for a single user on a laptop. Off by default; never for
    a server behind a reverse proxy on the same machine that strips forwarding headers."""

    @property
    def resolved_database_url(self) -> str:
        """The job store's SQLAlchemy URL."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'lamina.db').resolve()}"

    @property
    def resolved_storage(self) -> str:
        """The storage location: ``s3://...`` or an absolute directory."""
        if self.storage:
            return self.storage
        return str((self.data_dir / "files").resolve())
