"""Test inputs: small designs as arrays and PNG bytes, a decompression bomb's header, and a
loopback HTTP host to serve them from."""

from __future__ import annotations

import base64
import io
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw


def design(size: int = 48, seed: int = 0) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A small flat design: white background, two coloured rectangles, opaque."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 4), 255, dtype=np.uint8)
    for _ in range(2):
        x0, y0 = rng.integers(2, size // 2, size=2)
        w, h = rng.integers(size // 6, size // 2, size=2)
        img[y0 : y0 + h, x0 : x0 + w, :3] = rng.integers(0, 200, size=3)
    return img


def png_bytes(rgba: np.ndarray[Any, np.dtype[np.uint8]]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    return buf.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header claims ``width x height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


class ImageHost:
    """A loopback HTTP server of test inputs (``files``: path -> (content type, bytes))."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        host = self

        class _H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = host.files.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                kind, data = found
                if kind == "redirect":
                    self.send_response(302)
                    self.send_header("Location", data.decode())
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add(self, path: str, data: bytes, kind: str = "image/png") -> str:
        self.files[path] = (kind, data)
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def png(size: int = 8) -> bytes:
    """A flat grey ``size`` x ``size`` PNG."""
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size, 4), 90, dtype=np.uint8), "RGBA").save(buf, "PNG")
    return buf.getvalue()


def data_uri(data: bytes, kind: str = "image/png") -> str:
    """``data`` as a ``data:`` URI."""
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def poster(path: Path) -> Path:
    """A blue poster with a red card and a yellow disc: three separable elements."""
    img = Image.new("RGB", (160, 120), (30, 60, 200))
    draw = ImageDraw.Draw(img)
    draw.rectangle([20, 20, 80, 80], fill=(230, 40, 40))
    draw.ellipse([90, 40, 140, 90], fill=(250, 220, 30))
    img.save(path)
    return path
