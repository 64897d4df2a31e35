"""Building, caching and loading the real-content sets by name."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.real import photo, psd, svg
from bench.real.common import CACHE_VERSION, MAX_SIDE, RealSample, load_set, save_set

SETS = ("svg", "psd", "photo")


def load(
    name: str, cache: Path, psd_sources: Sequence[Path], *, rebuild: bool = False
) -> list[RealSample]:
    """Set ``name`` from the cache, built (and cached) first when missing or stale."""
    sources = sorted(str(p.resolve()) for p in psd_sources) if name == "psd" else []
    key: dict[str, object] = {"version": CACHE_VERSION, "max_side": MAX_SIDE, "sources": sources}
    if name == "psd":
        key["min_side"] = psd.MIN_SIDE
    folder = cache / "sets" / name
    cached = None if rebuild else load_set(folder, key)
    if cached is not None:
        return cached
    print(f"building the {name} set into {folder} ...", file=sys.stderr)
    if name == "svg":
        samples, log = svg.build(cache)
    elif name == "psd":
        if not psd_sources:
            raise SystemExit("--set psd needs --psd-source DIR (see docs/benchmarks.md)")
        samples, log = psd.build(psd_sources)
    else:
        samples, log = photo.build(cache)
    save_set(folder, samples, {"key": key, "log": log})
    return samples


def load_log(folder: Path) -> dict[str, str]:
    """The kept/dropped log stored with a built set."""
    path = folder / "manifest.json"
    return json.loads(path.read_text("utf-8")).get("log", {}) if path.is_file() else {}
