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
            with httpx.Client(base_url=srv.url, headers=srv.auth(), timeout=120) as client:
                print("| input | answer | API peak RSS | API RSS before | time |")
                print("|---|---|---|---|---|")
                for name, body in inputs.items():
                    Path(f"/proc/{pid}/clear_refs").write_text("5")
                    before = _status(pid, "VmRSS")
                    began = time.perf_counter()
                    answer = client.post(SUBMIT, json=body)
                    took = time.perf_counter() - began
                    code = answer.json().get("error_code", answer.status_code)
                    peak = _status(pid, "VmHWM")
                    print(
                        f"| {name} | {code} | {peak / MIB:.0f} MiB | {before / MIB:.0f} MiB "
                        f"| {took:.2f} s |"
                    )
                began = time.perf_counter()
                rid = client.post(SUBMIT, json={"image_url": slow_url}).json()["request_id"]
                while True:
                    result = client.get(f"/v1/requests/{rid}/result").json()
                    if result["status"] in ("completed", "failed"):
                        break
                    time.sleep(0.2)
                print(
                    f"| URL trickling a header byte every 2 s (job; `fetch_timeout_s` 20) "
                    f"| job {result['status']}: {result['error']} | | "
                    f"| {time.perf_counter() - began:.1f} s |"
                )
                Path(f"/proc/{pid}/clear_refs").write_text("5")
                before = _status(pid, "VmRSS")
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
                    f"| {before / MIB:.0f} MiB | {time.perf_counter() - began:.2f} s |"
                )
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
