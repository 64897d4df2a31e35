"""Auth, isolation between keys, every error code, hostile inputs: always a precise answer
or a failed job with a readable message, and the server stays up."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest
from tests.support.inputs import ImageHost, bomb_png, design, png_bytes
from tests.support.server import Server, wait_for

SUBMIT = "/v1/models/qwen/qwen-image-layered"


def _truncated() -> bytes:
    noisy = np.random.default_rng(0).integers(0, 256, size=(48, 48, 4), dtype=np.uint8)
    data = png_bytes(noisy)
    return data[: len(data) // 2]


def _error(response: httpx.Response, status: int, code: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert set(body) == {"error_code", "error_message", "detail"}
    assert body["error_code"] == code and body["error_message"]
    return body


def test_auth_is_required_and_each_key_sees_only_its_requests(
    server: Server, image_host: ImageHost
) -> None:
    url = image_host.add("/auth.png", png_bytes(design(16)))
    for headers in ({}, {"Authorization": "Bearer lam_nope"}, {"Authorization": "Basic abc"}):
        _error(
            httpx.post(server.url + SUBMIT, json={"image_url": url}, headers=headers), 401, 401001
        )
        _error(httpx.get(server.url + "/v1/models", headers=headers), 401, 401001)
        _error(httpx.get(server.url + "/metrics", headers=headers), 401, 401001)
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"

    alice, bob = server.new_key("alice"), server.new_key("bob")
    submitted = httpx.post(server.url + SUBMIT, json={"image_url": url}, headers=server.auth(alice))
    request_id = submitted.json()["request_id"]
    for method, action in (("GET", "status"), ("GET", "result"), ("POST", "cancel")):
        theirs = httpx.request(
            method, f"{server.url}/v1/requests/{request_id}/{action}", headers=server.auth(bob)
        )
        _error(theirs, 404, 404001)
    assert wait_for(server, request_id, {"completed"}, alice)["status"] == "completed"


def test_each_error_code(server: Server, image_host: ImageHost) -> None:
    auth = server.auth()
    url = image_host.add("/codes.png", png_bytes(design(16)))
    bad_id = httpx.get(f"{server.url}/v1/requests/not-an-id/status", headers=auth)
    _error(bad_id, 404, 404001)
    bad_json = httpx.post(
        server.url + SUBMIT, content=b"{oops", headers={**auth, "Content-Type": "application/json"}
    )
    assert "not valid JSON" in str(_error(bad_json, 400, 400001)["error_message"])
    missing = httpx.get(f"{server.url}/v1/requests/{'0' * 32}/result", headers=auth)
    _error(missing, 404, 404001)
    _error(
        httpx.post(server.url + "/v1/models/acme/nothing", json={"image_url": url}, headers=auth),
        404,
        404001,
    )
    schema = httpx.post(
        server.url + SUBMIT,
        json={"image_url": url, "num_layers": 11, "guidance_scale": 0.5, "output_format": "gif"},
        headers=auth,
    )
    detail = _error(schema, 422, 422001)["detail"]
    assert isinstance(detail, list)
    assert {d["field"] for d in detail} == {"num_layers", "guidance_scale", "output_format"}
    _error(httpx.post(server.url + SUBMIT, json={}, headers=auth), 422, 422001)
    big = (
        "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(400_000)).decode()
    )
    _error(httpx.post(server.url + SUBMIT, json={"image_url": big}, headers=auth), 413, 413001)
    upload = httpx.post(
        server.url + "/v1/files", files={"file": ("a.png", bytes(400_000))}, headers=auth
    )
    _error(upload, 413, 413001)
    layer = httpx.post(
        server.url + "/v1/files", files={"file": ("a.png", png_bytes(design(16)))}, headers=auth
    ).json()["url"]
    _error(httpx.get(layer.replace("sig=", "sig=0")), 403, 403001)
    _error(httpx.get(layer.split("?")[0] + "?expires=1&sig=00"), 403, 403001)
    assert httpx.get(layer).status_code == 200
    _error(httpx.get(server.url + "/no/such/route"), 404, 404001)


def test_rate_limit_answers_429_with_retry_after(server: Server) -> None:
    auth = server.auth(server.new_key("greedy"))
    with httpx.Client(base_url=server.url, headers=auth) as http:
        allowed = 0
        while (limited := http.get("/v1/models")).status_code == 200 and allowed < 5000:
            allowed += 1
    assert allowed >= 600  # the burst is the per-minute limit
    _error(limited, 429, 429001)
    assert int(limited.headers["retry-after"]) >= 1
    assert httpx.get(server.url + "/v1/models", headers=server.auth()).status_code == 200


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("truncated", _truncated(), "corrupt or truncated"),
        ("bomb", bomb_png(), "decompression bomb"),
        ("page", b"<html><body>hello</body></html>", "did not return an image"),
        ("missing", None, "HTTP 404"),
    ],
)
def test_hostile_inputs_fail_the_job_readably(
    server: Server, image_host: ImageHost, name: str, data: bytes | None, message: str
) -> None:
    url = (
        image_host.add(f"/hostile-{name}.png", data, "image/png")
        if data is not None
        else image_host.base + "/does-not-exist.png"
    )
    submitted = httpx.post(server.url + SUBMIT, json={"image_url": url}, headers=server.auth())
    request_id = submitted.json()["request_id"]
    wait_for(server, request_id, {"failed"})
    result = httpx.get(f"{server.url}/v1/requests/{request_id}/result", headers=server.auth())
    body = result.json()
    assert body["status"] == "failed" and body["output"] is None
    assert message in body["error"]
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_non_images_in_data_uris_and_uploads_are_refused_at_submit(server: Server) -> None:
    auth = server.auth()
    text = "data:text/plain;base64," + base64.b64encode(b"just text").decode()
    refused = _error(
        httpx.post(server.url + SUBMIT, json={"image_url": text}, headers=auth), 400, 400001
    )
    assert "not an image" in str(refused["error_message"])
    broken = "data:image/png;base64,@@@"
    _error(httpx.post(server.url + SUBMIT, json={"image_url": broken}, headers=auth), 400, 400001)
    upload = httpx.post(
        server.url + "/v1/files", files={"file": ("x.png", b"MZ\x90\x00")}, headers=auth
    )
    _error(upload, 400, 400001)
