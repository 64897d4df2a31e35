"""Whatever a client sends, the answer is a success or a precise 4xx, never a 500."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.inputs import data_uri, png
from tests.support.service import make_env

from lamina.api.app import create_app

FIELDS = [
    "image_url",
    "prompt",
    "negative_prompt",
    "num_inference_steps",
    "guidance_scale",
    "seed",
    "num_layers",
    "output_format",
    "resolution",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(
        [
            data_uri(png()),
            "data:image/png;base64,",
            "http://[::1",
            "https://127.0.0.1/a.png",
            "javascript:alert(1)",
            "http://%zz/",
            "/v1/files/uploads/2026-01-01/a.png?expires=x&sig=y",
            "png",
            640,
            1024,
        ]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
BODIES = st.dictionaries(st.sampled_from([*FIELDS, "extra"]), VALUES, max_size=6)


def test_random_submit_bodies_never_cause_a_server_error(tmp_path: Path) -> None:
    env = make_env(tmp_path, rate_limit_per_minute=0)
    client = TestClient(
        create_app(env.settings, service=env.service), raise_server_exceptions=False
    )
    client.headers["Authorization"] = f"Bearer {env.secret}"

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=BODIES, model=st.sampled_from(["qwen/qwen-image-layered", "x/y", "a%2f..%2fb"]))
    def check(body: dict[str, object], model: str) -> None:
        answer = client.post(
            f"/v1/models/{model}",
            content=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code in (200, 400, 404, 413, 422), (body, answer.text)
        assert set(answer.json()) >= (
            {"request_id"} if answer.status_code == 200 else {"error_code", "error_message"}
        )

    check()
    env.store.dispose()
