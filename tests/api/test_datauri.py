"""``data:`` URIs: exact decoding, sizes known before decoding, bounded memory."""

from __future__ import annotations

import base64
import time
import tracemalloc
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.api import datauri
from lamina.api.datauri import decode_data_uri
from lamina.errors import BadInput, TooLarge


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=64), safe=st.sampled_from(["", "/", "abcXYZ019-._~"]))
def test_percent_encoding_round_trips_across_chunk_boundaries(data: bytes, safe: str) -> None:
    uri = "data:image/png," + quote_from_bytes(data, safe=safe)
    original = datauri.CHUNK_CHARS
    try:
        for chunk in (3, 4, 5, 7, 1 << 20):  # every way an escape can meet a boundary
            datauri.CHUNK_CHARS = chunk
            assert decode_data_uri(uri, 1000) == data
    finally:
        datauri.CHUNK_CHARS = original


def test_base64_with_line_breaks_and_padding() -> None:
    for data in (b"", b"a", b"ab", b"abc", bytes(range(256))):
        text = base64.encodebytes(data).decode()  # 76-character lines
        assert decode_data_uri("data:image/png;base64," + text, 1000) == data


@pytest.mark.parametrize(
    ("uri", "size"),
    [
        ("data:image/png," + "%00" * 11, 11),
        ("data:image/png," + "a" * 11, 11),
        ("data:;base64," + base64.b64encode(bytes(11)).decode(), 11),
        ("data:;base64," + " \n".join(base64.b64encode(bytes(12)).decode()), 12),
    ],
)
def test_the_exact_decoded_size_is_refused_over_the_limit(uri: str, size: int) -> None:
    assert len(decode_data_uri(uri, size)) == size
    with pytest.raises(TooLarge, match=f"holds {size} bytes, over the limit of {size - 1}"):
        decode_data_uri(uri, size - 1)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("data:image/png;base64", "without a ','"),
        ("data:image/png,%zz", "invalid percent escape"),
        ("data:image/png,ab%4", "incomplete percent escape"),
        ("data:image/png,%%41", "invalid percent escape"),
        ("data:image/png,caf\u00e9", "outside ASCII"),
        ("data:image/png;base64,!!!!", "invalid base64"),
        ("data:image/png;base64,abc", "invalid base64"),
    ],
)
def test_malformed_uris_are_refused_with_the_reason(uri: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        decode_data_uri(uri, 1000)


@pytest.mark.parametrize(("unit", "limit"), [("%00", 50_000_000), ("%ff", 9_999_999)])
def test_a_30_mb_percent_encoded_uri_costs_little_more_than_its_decoded_bytes(
    unit: str, limit: int
) -> None:
    """The hostile input of issue 12 (``"%00" * 10_000_000``, 30 MB) grew the API by
    0.8 GiB; decoded in chunks it costs its 10 MB of output and a few chunks more, and
    refusing it as too large costs nothing."""
    uri = "data:image/png," + unit * 10_000_000
    tracemalloc.start()
    try:
        start = time.perf_counter()
        try:
            size = len(decode_data_uri(uri, limit))
        except TooLarge:
            size = 0
        elapsed = time.perf_counter() - start
        peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    if limit >= 10_000_000:
        assert size == 10_000_000 and peak_mib < 40, peak_mib
    else:
        assert size == 0 and peak_mib < 1, peak_mib
    assert elapsed < 3.0
