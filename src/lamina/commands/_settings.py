"""Flags shared by ``serve``, ``worker`` and ``keys`` that map onto :class:`Settings`.

A flag left out keeps the ``LAMINA_*`` environment variable or the default.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamina.config import Settings

# flag -> (Settings field, argparse keyword arguments)
_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--host": ("host", {"help": "interface to bind (default 127.0.0.1)"}),
    "--port": ("port", {"type": int, "help": "port to bind (default 8000)"}),
    "--data-dir": ("data_dir", {"help": "SQLite database, files and keys (default ./lamina-data)"}),
    "--public-url": ("public_url", {"help": "base URL clients see, e.g. behind a proxy"}),
    "--database-url": (
        "database_url",
        {"help": "job store, e.g. postgresql://user@host/db (default SQLite in --data-dir)"},
    ),
    "--storage": ("storage", {"help": "s3://bucket/prefix or a directory (default --data-dir)"}),
    "--s3-endpoint-url": ("s3_endpoint_url", {"help": "S3-compatible endpoint (MinIO, R2, ...)"}),
    "--s3-region": ("s3_region", {"help": "S3 region"}),
    "--engine": ("engine", {"help": "classic, qwen or auto (default classic)"}),
    "--workers": (
        "workers",
        {"type": int, "help": "worker processes started by serve (default 1; 0: API only)"},
    ),
    "--model": ("model", {"help": "Qwen-Image-Layered weights: local directory or repo id"}),
    "--device": ("device", {"help": "torch device for the qwen engine (default cuda if present)"}),
    "--dtype": ("dtype", {"help": "torch dtype for the qwen engine (default bfloat16 on GPU)"}),
    "--cpu-offload": (
        "cpu_offload",
        {
            "choices": ["none", "model", "group", "sequential"],
            "help": "qwen: offload to fit smaller GPUs (docs/qwen.md has the memory of each)",
        },
    ),
    "--fp8": (
        "fp8",
        {"action": "store_const", "const": True, "help": "qwen: float8 transformer weights"},
    ),
    "--attention-backend": (
        "attention_backend",
        {"help": "qwen: diffusers attention backend, e.g. flash, _flash_3, sage"},
    ),
    "--compile": (
        "compile",
        {"action": "store_const", "const": True, "help": "qwen: torch.compile the transformer"},
    ),
    "--lora": ("lora", {"help": "qwen: a LoRA to load (.safetensors file, folder or repo id)"}),
    "--resolution": (
        "resolution",
        {"type": int, "choices": [640, 1024], "help": "qwen: working resolution (default 640)"},
    ),
    "--max-pixels": ("max_pixels", {"type": int, "help": "largest accepted image (pixels)"}),
    "--rate-limit-per-minute": (
        "rate_limit_per_minute",
        {"type": int, "help": "requests per API key per minute (default 600; 0: no limit)"},
    ),
    "--retention-days": (
        "retention_days",
        {"type": float, "help": "delete finished jobs and their files after this (default 7)"},
    ),
    "--no-key-on-loopback": (
        "loopback_without_key",
        {
            "action": "store_const",
            "const": True,
            "help": "requests from this machine need no API key (single user; not behind a proxy)",
        },
    ),
    "--allow-private-urls": (
        "allow_private_urls",
        {"action": "store_const", "const": True, "help": "let image_url reach private networks"},
    ),
}


STORE_FLAGS = ("--database-url", "--storage", "--s3-endpoint-url", "--s3-region")
"""Where jobs and files live: the same for ``serve`` and ``worker``."""
ENGINE_FLAGS = (
    "--model",
    "--device",
    "--dtype",
    "--cpu-offload",
    "--fp8",
    "--attention-backend",
    "--compile",
    "--lora",
    "--resolution",
    "--max-pixels",
)
"""How the engine is built and what it accepts: the same for ``decompose``, ``serve`` and
``worker``."""


def add_settings_flags(parser: argparse.ArgumentParser, *names: str) -> None:
    """Add the named flags (e.g. ``"--port"``) to ``parser``; defaults come from Settings."""
    for name in names:
        field, kwargs = _FLAGS[name]
        if "choices" not in kwargs and kwargs.get("action") is None:
            kwargs = {"metavar": field.upper(), **kwargs}
        parser.add_argument(name, dest=f"setting_{field}", default=None, **kwargs)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Environment and defaults, overridden by every flag that was given.

    An out-of-range value raises :class:`~lamina.errors.LaminaError` naming the flag (or
    the environment variable), so the CLI answers with one line instead of a traceback.
    """
    from pydantic import ValidationError

    from lamina.config import Settings
    from lamina.errors import LaminaError

    overrides = {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_") and value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        flags = {field: flag for flag, (field, _) in _FLAGS.items()}
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            name = flags[field] if field in overrides else f"LAMINA_{field.upper()}"
            problems.append(f"{name}: {error['msg']}")
        raise LaminaError("; ".join(problems)) from None
    require_extras(settings)
    return settings


def require_extras(settings: Settings) -> None:
    """Raise :class:`~lamina.errors.LaminaError` saying which extra to install when the
    settings need a driver that is missing (a PostgreSQL store, S3 storage), instead of a
    ``ModuleNotFoundError`` traceback from deep inside SQLAlchemy or the storage."""
    import importlib

    from lamina.errors import LaminaError

    needs = []
    if settings.resolved_database_url.startswith("postgresql"):
        needs.append(("psycopg", "postgres", "--database-url postgresql://..."))
    if settings.resolved_storage.startswith("s3://"):
        needs.append(("boto3", "s3", "--storage s3://..."))
    for module, extra, what in needs:
        try:
            importlib.import_module(module)
        except ImportError:
            raise LaminaError(
                f"{what} needs {module}, which is not installed: pip install 'lamina[{extra}]'"
            ) from None
