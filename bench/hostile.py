"""What hostile inputs cost a live server: the API's peak RSS and the time to an answer.

Usage: ``.venv/bin/python -m bench.hostile``. Starts ``lamina serve`` (one classic worker,
private URLs allowed for the loopback trickling server) in a temporary data dir and sends
each input of issue 12 once, then 3,000 requests with unknown keys; before each, the API
process's peak RSS is reset (``/proc/PID/clear_refs``), so each row is that input's own peak.
Prints a Markdown table.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.api import SUBMIT, start

MIB = 2**20
PNG_SIGNATURE = "%89PNG%0D%0A%1A%0A"


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


@contextlib.contextmanager
def trickling_server(every_s: float = 2.0) -> Iterator[str]:
    """A loopback server sending one header byte every ``every_s`` seconds, forever."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not stop.wait(every_s):
                    conn.sendall(b"X")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/slow.png"
    finally:
        stop.set()
        listener.close()


def _worker_pid(api_pid: int) -> int:
    """The pool worker of ``lamina serve`` (its one child process)."""
    children = Path(f"/proc/{api_pid}/task/{api_pid}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"expected one worker process, found {children}")
    return int(children[0])


def _reset(*pids: int) -> list[int]:
    """Reset each process's peak RSS; return their RSS now."""
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    return [_status(pid, "VmRSS") for pid in pids]


def _end(client: httpx.Client, rid: str) -> dict[str, Any]:
    """Wait for job ``rid`` to end; its result."""
    while True:
        result: dict[str, Any] = client.get(f"/v1/requests/{rid}/result").json()
        if result["status"] in ("completed", "failed", "cancelled"):
            return result
        time.sleep(0.2)


def main() -> None:
    inputs = {
        'percent-encoded `data:` URI, `"%00" * 10_000_000` (30 MB)': {
            "image_url": "data:image/png," + "%00" * 10_000_000
        },
        "the same behind a PNG signature (decoded and stored: 10 MB)": {
            "image_url": "data:image/png," + PNG_SIGNATURE + "%00" * 10_000_000
        },
        "base64 `data:` URI, 30 MB of `A ` (whitespace between every character)": {
            "image_url": "data:image/png;base64," + "A " * 15_000_000
        },
        "60 MB prompt": {
            "image_url": "data:image/png;base64,iVBORw0KGgo=",
            "prompt": "p" * 60 * 10**6,
        },
    }
    with tempfile.TemporaryDirectory() as tmp, trickling_server() as slow_url:
        srv = start(Path(tmp), workers=1, extra=("--allow-private-urls",))
        try:
            pid = srv.process.pid
            worker = _worker_pid(pid)
            with httpx.Client(base_url=srv.url, headers=srv.auth(), timeout=120) as client:
                files = {"file": ("blank.png", blank_png(6300, 6300), "image/png")}
                blank = client.post("/v1/files", files=files).json()["url"]
                inputs["blank 6300x6300 PNG (116 KB, 39.7 MP), 4 layers"] = {
                    "image_url": blank,
                    "num_layers": 4,
                }
                inputs["URL trickling a header byte every 2 s (`fetch_timeout_s` 20)"] = {
                    "image_url": slow_url
                }
                print(
                    "| input | answer | API peak RSS (before) | worker peak RSS (before) "
                    "| time to the answer / to the job's end |"
                )
                print("|---|---|---|---|---|")
                for name, body in inputs.items():
                    before, worker_before = _reset(pid, worker)
                    began = time.perf_counter()
                    answer = client.post(SUBMIT, json=body)
                    took = time.perf_counter() - began
                    code = answer.json().get("error_code", answer.status_code)
                    peak = _status(pid, "VmHWM")
                    ended = ""
                    if answer.status_code == 200:
                        result = _end(client, answer.json()["request_id"])
                        error = f": {result['error']}" if result.get("error") else ""
                        code = f"{code}; job {result['status']}{error}"
                        ended = f" / {time.perf_counter() - began:.1f} s"
                    print(
                        f"| {name} | {code} | {peak / MIB:.0f} MiB ({before / MIB:.0f}) "
                        f"| {_status(worker, 'VmHWM') / MIB:.0f} MiB ({worker_before / MIB:.0f}) "
                        f"| {took:.2f} s{ended} |",
                        flush=True,
                    )
                (before,) = _reset(pid)
                began = time.perf_counter()
                codes = Counter(
                    client.get("/v1/models", headers={"Authorization": f"Bearer lam_{i}"}).json()[
                        "error_code"
                    ]
                    for i in range(3000)
                )
                print(
                    f"| 3,000 unknown keys from one address | {dict(sorted(codes.items()))} "
                    f"(401001 = a key lookup) | {_status(pid, 'VmHWM') / MIB:.0f} MiB "
                    f"({before / MIB:.0f}) | | {time.perf_counter() - began:.2f} s |"
                )
        finally:
            srv.stop()


def blank_png(width: int, height: int) -> bytes:
    """An all-white RGB PNG, compressed row by row: tiny on disk, ``width * height`` pixels."""
    import zlib

    packer = zlib.compressobj(9)
    row = b"\0" + b"\xff" * (3 * width)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    main()
