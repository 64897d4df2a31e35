"""SSRF-safe fetching: address checks, pinning, redirects, caps and sniffing.

Servers are real loopback HTTP servers; hostnames that must resolve to a given
address use an injected resolver instead of the network.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from lamina.config import Settings
from lamina.errors import ImageTooLarge, InvalidImage
from lamina.fetch import (
    FetchError,
    UnsafeURL,
    check_url,
    fetch_image,
    sniff_image_format,
    system_resolver,
)
from lamina.imaging.codec import encode_image

PNG = encode_image(np.full((8, 8, 4), 200, dtype=np.uint8))
Handler = Callable[[BaseHTTPRequestHandler], None]


class _Server:
    """A loopback HTTP server whose paths are plain functions; records Host headers."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.hosts: list[str] = []
        server = self

        class _H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hosts.append(self.headers.get("Host", ""))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _body(data: bytes, *, length: bool = True, status: int = 200) -> Handler:
    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        if length:
            h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return handle


def _redirect(location: str) -> Handler:
    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return handle


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    yield srv
    srv.close()


def _settings(**kw: object) -> Settings:
    return Settings(**{"fetch_timeout_s": 5.0, **kw})  # type: ignore[arg-type]


def _fixed(mapping: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if host not in mapping:
            raise socket.gaierror(f"unknown host {host}")
        return mapping[host]

    return resolve


LOCAL = ("127.0.0.1",)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "[::1]",
        "[::]",
        "[fe80::1]",
        "[fc00::1]",
        "[fd12:3456::1]",
        "[ff02::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:10.0.0.1]",
        "[::ffff:7f00:1]",
        "[2002:7f00:1::1]",
        "[64:ff9b::a00:1]",
        "2130706433",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "127.1",
        "017700000001",
        "localhost",
    ],
)
def test_private_and_reserved_addresses_are_refused(host: str) -> None:
    with pytest.raises(UnsafeURL, match="private or reserved"):
        check_url(f"http://{host}/a.png")


def test_public_addresses_pass_and_are_pinned() -> None:
    target = check_url(
        "https://img.example.com/x.png", resolver=_fixed({"img.example.com": ["93.184.216.34"]})
    )
    assert (str(target.address), target.host, target.port) == (
        "93.184.216.34",
        "img.example.com",
        443,
    )
    v6 = check_url("http://[2606:4700::1111]:8080/x", resolver=system_resolver)
    assert (str(v6.address), v6.port) == ("2606:4700::1111", 8080)


def test_a_hostname_with_any_private_answer_is_refused() -> None:
    resolve = _fixed({"mixed.example": ["93.184.216.34", "10.1.2.3"], "v6.example": ["fd00::5"]})
    for host in ("mixed.example", "v6.example"):
        with pytest.raises(UnsafeURL, match="private"):
            check_url(f"http://{host}/", resolver=resolve)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "http or https"),
        ("ftp://example.com/a.png", "http or https"),
        ("gopher://example.com/", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("example.com/a.png", "http or https"),
        ("http:///a.png", "no host"),
        ("http://user:pw@example.com/a.png", "user name"),
        ("http://example.com:99999/a.png", "not a valid URL"),
        ("http://nowhere.invalid/a.png", "could not be resolved"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(UnsafeURL, match=message):
        check_url(url, resolver=_fixed({"example.com": ["93.184.216.34"]}))


def test_allow_private_lifts_the_check() -> None:
    assert str(check_url("http://10.0.0.1/", allow_private=True).address) == "10.0.0.1"
    assert str(check_url("http://127.0.0.1/", allowed_addresses=LOCAL).address) == "127.0.0.1"
    with pytest.raises(UnsafeURL):
        check_url("http://127.0.0.2/", allowed_addresses=LOCAL)


def test_fetch_connects_to_the_checked_address_and_keeps_the_host_header(
    server: _Server,
) -> None:
    server.routes["/a.png"] = _body(PNG)
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        # a rebinding DNS answers differently the second time; only one lookup may happen
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["10.9.9.9"]

    data = fetch_image(
        server.url("/a.png", "images.test"),
        _settings(),
        allowed_addresses=LOCAL,
        resolver=rebinding,
    )
    assert data == PNG
    assert calls == ["images.test"]
    assert server.hosts == [f"images.test:{server.port}"]


def test_redirects_are_followed_and_each_hop_is_checked(server: _Server) -> None:
    server.routes["/a.png"] = _body(PNG)
    server.routes["/hop"] = _redirect("/a.png")
    assert fetch_image(server.url("/hop"), _settings(), allowed_addresses=LOCAL) == PNG
    for target in (
        f"http://127.0.0.2:{server.port}/a.png",
        "http://169.254.169.254/latest/meta-data/",
        f"http://[::1]:{server.port}/a.png",
        f"http://0.0.0.0:{server.port}/a.png",
        "http://167772161/",  # 10.0.0.1 in decimal
    ):
        server.routes["/evil"] = _redirect(target)
        with pytest.raises(UnsafeURL, match="private or reserved"):
            fetch_image(server.url("/evil"), _settings(), allowed_addresses=LOCAL)
    server.routes["/scheme"] = _redirect("file:///etc/passwd")
    with pytest.raises(UnsafeURL, match="http or https"):
        fetch_image(server.url("/scheme"), _settings(), allowed_addresses=LOCAL)


def test_redirect_loops_stop(server: _Server) -> None:
    server.routes["/loop"] = _redirect("/loop")
    with pytest.raises(FetchError, match="redirected more than"):
        fetch_image(server.url("/loop"), _settings(), allowed_addresses=LOCAL)


def test_without_permission_loopback_is_refused_before_connecting(server: _Server) -> None:
    server.routes["/a.png"] = _body(PNG)
    with pytest.raises(UnsafeURL):
        fetch_image(server.url("/a.png"), _settings())
    assert server.hosts == []
    assert fetch_image(server.url("/a.png"), _settings(allow_private_urls=True)) == PNG


def test_size_cap_is_enforced_while_streaming(server: _Server) -> None:
    big = PNG + b"\0" * 5000
    server.routes["/declared"] = _body(big)
    server.routes["/streamed"] = _body(big, length=False)
    server.routes["/exact"] = _body(PNG)
    settings = _settings(allow_private_urls=True, max_input_bytes=len(PNG))
    assert fetch_image(server.url("/exact"), settings) == PNG
    for path in ("/declared", "/streamed"):
        with pytest.raises(ImageTooLarge, match="over the limit"):
            fetch_image(server.url(path), settings)


def test_slow_servers_time_out(server: _Server) -> None:
    def stall(h: BaseHTTPRequestHandler) -> None:
        time.sleep(1.0)
        with contextlib.suppress(OSError):
            _body(PNG)(h)

    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(40):
                h.wfile.write(b"\0" * 10)
                h.wfile.flush()
                time.sleep(0.05)

    server.routes["/stall"] = stall
    server.routes["/drip"] = drip
    settings = _settings(allow_private_urls=True, fetch_timeout_s=0.4)
    for path in ("/stall", "/drip"):
        with pytest.raises(FetchError, match=r"timed out|too long"):
            fetch_image(server.url(path), settings)


@contextlib.contextmanager
def _trickling(data: bytes, every_s: float = 0.1) -> Iterator[int]:
    """A loopback server that answers its first connection with ``data``, one byte per
    ``every_s`` (each byte well inside any per-read timeout); yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):
            conn.recv(4096)
            for byte in data:
                if stop.wait(every_s):
                    return
                conn.sendall(bytes([byte]))

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.parametrize(
    ("scheme", "data"),
    [
        # status line and headers, then a valid body: 10 s in all at one byte per 0.1 s
        ("http", b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Pad: " % len(PNG) + b"a" * 40),
        # a TLS handshake record announcing 16 KB, sent a byte at a time
        ("https", b"\x16\x03\x03\x40\x00" + b"\x02" * 100),
    ],
)
def test_one_deadline_covers_headers_and_handshake_of_a_trickling_server(
    scheme: str, data: bytes
) -> None:
    settings = _settings(allow_private_urls=True, fetch_timeout_s=1.0)
    with _trickling(data) as port:
        start = time.monotonic()
        with pytest.raises(FetchError, match=r"timed out after 1 s|deadline"):
            fetch_image(f"{scheme}://127.0.0.1:{port}/a.png", settings)
        assert time.monotonic() - start < 2.0


def test_content_is_sniffed_not_trusted(server: _Server) -> None:
    def html(h: BaseHTTPRequestHandler) -> None:
        body = b"<html>not an image</html>"
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    server.routes["/fake.png"] = html
    server.routes["/empty.png"] = _body(b"")
    server.routes["/missing.png"] = _body(b"gone", status=404)
    settings = _settings(allow_private_urls=True)
    with pytest.raises(InvalidImage, match="did not return an image"):
        fetch_image(server.url("/fake.png"), settings)
    with pytest.raises(InvalidImage, match="empty"):
        fetch_image(server.url("/empty.png"), settings)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_image(server.url("/missing.png"), settings)


def test_connection_refused_is_a_readable_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError, match="could not fetch"):
        fetch_image(f"http://127.0.0.1:{port}/a.png", _settings(allow_private_urls=True))


def test_sniffing_knows_the_supported_formats() -> None:
    assert sniff_image_format(PNG) == "PNG"
    assert sniff_image_format(b"\xff\xd8\xff\xe0rest") == "JPEG"
    assert sniff_image_format(b"GIF89a...") == "GIF"
    assert sniff_image_format(b"RIFF\0\0\0\0WEBPVP8 ") == "WEBP"
    assert sniff_image_format(b"II*\x00") == "TIFF"
    assert sniff_image_format(b"%PDF-1.7") is None
