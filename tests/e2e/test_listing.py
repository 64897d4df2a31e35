"""Beyond the seed, against a real ``lamina serve``: unknown ids of any shape are 404, and
``GET /v1/requests`` pages through one key's requests (never another key's)."""

from __future__ import annotations

import uuid

import httpx
from tests.support.inputs import ImageHost, design, png_bytes
from tests.support.server import Server, wait_for

SUBMIT = "/v1/models/qwen/qwen-image-layered"


def test_any_path_segment_that_is_not_our_request_is_404(
    server: Server, image_host: ImageHost
) -> None:
    url = image_host.add("/ids.png", png_bytes(design(16)))
    ours = httpx.post(server.url + SUBMIT, json={"image_url": url}, headers=server.auth())
    request_id = ours.json()["request_id"]
    dashed = str(uuid.UUID(request_id))  # our own id, in the other spelling: still not an id
    for segment in (str(uuid.uuid4()), dashed, "not-an-id", "x" * 300, "%20", request_id.upper()):
        for method, action in (("GET", "status"), ("GET", "result"), ("POST", "cancel")):
            answer = httpx.request(
                method, f"{server.url}/v1/requests/{segment}/{action}", headers=server.auth()
            )
            assert answer.status_code == 404, (segment, answer.text)
            assert answer.json()["error_code"] == 404001
    assert wait_for(server, request_id, {"completed"})["status"] == "completed"


def _page(server: Server, key: str, **params: object) -> dict[str, object]:
    answer = httpx.get(
        server.url + "/v1/requests", params=params, headers=server.auth(key), timeout=10
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_listing_pages_filters_and_sees_only_its_own_key(
    server: Server, image_host: ImageHost
) -> None:
    alice, bob = server.new_key("alice-list"), server.new_key("bob-list")
    url = image_host.add("/list.png", png_bytes(design(16, seed=4)))

    def submit(key: str, **extra: object) -> str:
        body = {"image_url": url, "num_layers": 1, **extra}
        return str(
            httpx.post(server.url + SUBMIT, json=body, headers=server.auth(key)).json()[
                "request_id"
            ]
        )

    running = submit(alice, prompt="gate:list-hold")
    wait_for(server, running, {"in_progress"}, alice)
    queued, cancelled = submit(alice), submit(alice)
    httpx.post(f"{server.url}/v1/requests/{cancelled}/cancel", headers=server.auth(alice))
    theirs = submit(bob)

    first = _page(server, alice, limit=2)
    got = [r["request_id"] for r in first["requests"]]  # type: ignore[attr-defined]
    assert got == [cancelled, queued]  # newest first
    assert first["next_cursor"]
    second = _page(server, alice, limit=2, cursor=first["next_cursor"])
    assert [r["request_id"] for r in second["requests"]] == [running]  # type: ignore[attr-defined]
    assert "next_cursor" not in second or second["next_cursor"] is None
    row = second["requests"][0]  # type: ignore[index]
    assert row["status"] == "in_progress" and row["model_id"] == "qwen/qwen-image-layered"
    assert row["status_url"] == f"{server.url}/v1/requests/{running}/status"
    assert row["created_at"].endswith("Z") and 0 <= row["progress"] <= 1

    for status, expected in (
        ("in_progress", [running]),
        ("in_queue", [queued]),
        ("cancelled", [cancelled]),
        ("completed", []),
    ):
        page = _page(server, alice, status=status)
        assert [r["request_id"] for r in page["requests"]] == expected, status  # type: ignore[attr-defined]
    assert [r["request_id"] for r in _page(server, bob)["requests"]] == [theirs]  # type: ignore[attr-defined]

    bad = httpx.get(
        server.url + "/v1/requests", params={"cursor": "nope"}, headers=server.auth(alice)
    )
    assert (bad.status_code, bad.json()["error_code"]) == (400, 400001)
    bad = httpx.get(
        server.url + "/v1/requests", params={"status": "done"}, headers=server.auth(alice)
    )
    assert (bad.status_code, bad.json()["error_code"]) == (422, 422001)
    assert httpx.get(server.url + "/v1/requests").status_code == 401

    server.open_gate("list-hold")
    for request_id in (running, queued):
        wait_for(server, request_id, {"completed"}, alice)
    done = _page(server, alice, status="completed")
    assert [r["request_id"] for r in done["requests"]] == [queued, running]  # type: ignore[attr-defined]
