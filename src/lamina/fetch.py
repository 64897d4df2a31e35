"""Fetch a user-supplied image URL without letting it reach the server's own network (SSRF).

Every hop is checked the same way: the host is resolved once, *every* address it
resolves to must be public (not loopback, private, link-local, multicast,
reserved or unspecified; IPv4-mapped, 6to4, Teredo and NAT64 IPv6 forms are
unwrapped first), and the connection then goes to the address that was checked,
with the original ``Host`` header and TLS SNI, so a second DNS answer cannot
swap in another address (DNS rebinding). Redirects are followed here, at most
:data:`MAX_REDIRECTS`, each one checked again. The body is capped while it
streams, and the bytes must look like an image (sniffed from the bytes, never
from the name or ``Content-Type``).

The whole fetch has one deadline, from the first connect to the last byte, redirects,
TLS handshakes and headers included: every socket operation gets only the time left
(:class:`_DeadlineBackend`), so a server that trickles a byte at a time cannot hold a
job past it (httpx's own timeouts apply per operation and reset with each byte).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from lamina.config import Settings
from lamina.errors import FetchError, ImageTooLarge, InvalidImage, UnsafeURL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
"""``(host, port) -> addresses`` as strings; raises ``OSError`` when the host is unknown."""

MAX_REDIRECTS = 5
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``) and what to tell the server (``host``)."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for ``host`` (numeric forms such as
    ``2130706433`` or ``0177.0.0.1`` come back normalised, so they are checked as such)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is a globally routable unicast address (unwrapping IPv6 forms
    that embed an IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(embedded):
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_url(
    url: str,
    *,
    allow_private: bool = False,
    allowed_addresses: Collection[str] = (),
    resolver: Resolver = system_resolver,
    what: str = "image_url",
) -> Target:
    """Parse and resolve ``url`` and check every address it resolves to.

    ``allow_private`` lifts the address check (on-premise use); ``allowed_addresses``
    lifts it for those exact addresses only; ``what`` names the URL in the messages.
    Raises :class:`UnsafeURL`.
    """
    if not isinstance(url, str) or len(url) > 8192:
        raise UnsafeURL(f"{what} must be a URL string of at most 8192 characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"{what} is not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeURL(
            f"{what} must use http or https (or be a data: URI), not {scheme or 'nothing'!r}"
        )
    host = parts.hostname
    if not host:
        raise UnsafeURL(f"{what} has no host name")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL(f"{what} must not carry a user name or password")
    port = port or _DEFAULT_PORTS[scheme]
    try:
        found = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"the host {host!r} of {what} could not be resolved") from exc
    addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
    if not addresses:
        raise UnsafeURL(f"the host {host!r} of {what} could not be resolved")
    allowed = {ipaddress.ip_address(a) for a in allowed_addresses}
    if not allow_private:
        for address in addresses:
            if address not in allowed and not is_public_address(address):
                raise UnsafeURL(
                    f"{what} points at a private or reserved address ({address}); "
                    "the server only fetches public URLs"
                )
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])


def fetch_image(
    url: str,
    settings: Settings,
    *,
    allowed_addresses: Collection[str] = (),
    resolver: Resolver = system_resolver,
) -> bytes:
    """Download the image at ``url`` (http or https) with the protections described above.

    Limits come from ``settings``: ``max_input_bytes``, ``fetch_timeout_s`` (for the
    whole fetch, redirects included) and ``allow_private_urls``. Raises
    :class:`UnsafeURL` / :class:`FetchError` for URL and network problems,
    :class:`ImageTooLarge` over the size cap and :class:`InvalidImage` when the
    bytes are not an image.
    """
    limit = settings.fetch_timeout_s
    with deadline_client(limit) as client:
        for _ in range(MAX_REDIRECTS + 1):
            target = check_url(
                url,
                allow_private=settings.allow_private_urls,
                allowed_addresses=allowed_addresses,
                resolver=resolver,
            )
            location = _get(client, target, settings.max_input_bytes, limit)
            if isinstance(location, bytes):
                _check_image_bytes(location)
                return location
            url = urljoin(url, location)
    raise FetchError(f"image_url redirected more than {MAX_REDIRECTS} times")


def pinned_request(
    client: httpx.Client,
    method: str,
    target: Target,
    headers: dict[str, str],
    content: bytes | None = None,
) -> httpx.Request:
    """A request to the checked address of ``target`` (never a fresh DNS answer), with the
    URL's own ``Host`` header and TLS server name."""
    parts = urlsplit(target.url)
    host = f"[{target.address}]" if target.address.version == 6 else str(target.address)
    pinned = parts._replace(netloc=f"{host}:{target.port}").geturl()
    default_port = _DEFAULT_PORTS[target.scheme] == target.port
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    headers = {"Host": host_header if default_port else f"{host_header}:{target.port}", **headers}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return client.build_request(
        method, pinned, headers=headers, content=content, extensions=extensions
    )


def deadline_client(limit: float) -> httpx.Client:
    """A client whose every request ends within ``limit`` seconds from now, connect to last
    byte, following no redirects and ignoring proxy variables."""
    transport = _DeadlineTransport(time.monotonic() + limit)
    return httpx.Client(transport=transport, timeout=limit, follow_redirects=False, trust_env=False)


def _get(client: httpx.Client, target: Target, max_bytes: int, limit: float) -> bytes | str:
    """One GET to the checked address: the body, or the ``Location`` of a redirect."""
    headers = {"Accept": "image/*", "User-Agent": "lamina-fetch/1"}
    request = pinned_request(client, "GET", target, headers)
    try:
        response = client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise FetchError(f"fetching image_url timed out after {limit:g} s ({target.host})") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"could not fetch image_url from {target.host}: {exc}") from exc
    try:
        if response.is_redirect:
            location = response.headers.get("location")
            if not location:
                raise FetchError("image_url answered a redirect without a Location")
            return location
        if response.status_code != 200:
            raise FetchError(f"image_url answered HTTP {response.status_code}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise ImageTooLarge(f"image_url is {declared} bytes, over the limit of {max_bytes}")
        return _read_capped(response, max_bytes, limit)
    finally:
        response.close()


def _read_capped(response: httpx.Response, max_bytes: int, limit: float) -> bytes:
    """The body, stopping as soon as it passes ``max_bytes`` (the deadline is the
    transport's)."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise ImageTooLarge(f"image_url is over the limit of {max_bytes} bytes")
            chunks.append(chunk)
    except httpx.TimeoutException as exc:
        raise FetchError(f"fetching image_url timed out after {limit:g} s while reading") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"the download of image_url broke off: {exc}") from exc
    return b"".join(chunks)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose sockets all share one ``deadline``
    (:func:`time.monotonic` seconds). httpx has no parameter for the network backend, so
    the pool it builds is replaced by one that uses :class:`_DeadlineBackend`."""

    def __init__(self, deadline: float) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_DeadlineBackend(deadline),
        )


class _DeadlineBackend(httpcore.NetworkBackend):
    """Connects like httpcore's own backend, giving each operation only the time left."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        left = _time_left(self.deadline, timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, left, local_address, socket_options)
        return _DeadlineStream(stream, self.deadline)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(
            max_bytes, _time_left(self._deadline, timeout, httpcore.ReadTimeout)
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # CPython bounds the whole handshake by the socket timeout, not each read of it
        left = _time_left(self._deadline, timeout, httpcore.ConnectTimeout)
        stream = self._stream.start_tls(ssl_context, server_hostname, left)
        return _DeadlineStream(stream, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def _time_left(deadline: float, timeout: float | None, error: type[Exception]) -> float:
    """The smaller of ``timeout`` and the time to ``deadline``; ``error`` once it passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the fetch deadline passed")
    return left if timeout is None else min(timeout, left)


def sniff_image_format(data: bytes) -> str | None:
    """The image format named by the first bytes of ``data`` (``"PNG"``, ...), or ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(b"BM"):
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def _check_image_bytes(data: bytes) -> None:
    if not data:
        raise InvalidImage("image_url returned an empty body")
    if sniff_image_format(data) is None:
        raise InvalidImage(
            "image_url did not return an image (expected PNG, JPEG, WebP, GIF, BMP or TIFF)"
        )
