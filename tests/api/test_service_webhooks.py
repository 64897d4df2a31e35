"""Webhook URLs obey the SSRF rules of ``image_url``, and each key has its own secret."""

from __future__ import annotations

import pytest
from tests.support.inputs import data_uri, png
from tests.support.service import BASE, Env

from lamina.api.schemas import SubmitRequest
from lamina.api.webhooks import WebhookSigner, retry_delay
from lamina.errors import BadInput

MODEL = "qwen/qwen-image-layered"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://intranet.example.com/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://2130706433/hook",
        "http://nowhere.invalid/hook",
    ],
)
def test_private_or_unresolvable_webhook_urls_are_refused(env: Env, url: str) -> None:
    body = SubmitRequest(image_url=data_uri(png()), webhook_url=url)
    with pytest.raises(BadInput, match="webhook_url"):
        env.service.submit(env.caller, MODEL, body, base_url=BASE)


def test_a_public_webhook_url_is_kept_with_the_base_url(env: Env) -> None:
    body = SubmitRequest(image_url=data_uri(png()), webhook_url="https://img.example.com/hook")
    request_id = env.service.submit(env.caller, MODEL, body, base_url=BASE).request_id
    job = env.store.get(request_id)
    assert job.webhook == {"url": "https://img.example.com/hook", "base_url": BASE}
    assert job.webhook_state == "pending"
    assert "webhook_url" not in job.params
    log = env.service.webhook_log(env.caller, request_id)
    assert (log.state, log.attempts) == ("pending", [])


def test_secrets_differ_per_key_and_back_off_doubles() -> None:
    signer = WebhookSigner(b"0123456789abcdef0123")
    assert signer.secret_for("key_a").startswith("whsec_")
    assert signer.secret_for("key_a") != signer.secret_for("key_b")
    assert signer.secret_for("key_a") == WebhookSigner(b"0123456789abcdef0123").secret_for("key_a")
    assert [retry_delay(n, 5.0) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert retry_delay(30, 5.0) == 3600.0


def test_a_keys_default_webhook_serves_submits_that_name_none(env: Env) -> None:
    from lamina.api.schemas import WebhookDefault

    image = data_uri(png())
    with pytest.raises(BadInput, match="webhook_url"):
        env.service.set_webhook_default(env.caller, WebhookDefault(url="http://10.0.0.7/h"))
    assert env.service.webhook_default(env.caller).url is None
    default = "https://img.example.com/default"
    set_to = env.service.set_webhook_default(env.caller, WebhookDefault(url=f" {default} "))
    assert set_to.url == default == env.service.webhook_default(env.caller).url

    def webhook_of(body: SubmitRequest, caller: object = env.caller) -> object:
        request_id = env.service.submit(caller, MODEL, body, base_url=BASE).request_id  # type: ignore[arg-type]
        job = env.store.get(request_id)
        return None if job.webhook is None else job.webhook["url"]

    assert webhook_of(SubmitRequest(image_url=image)) == default
    own = "https://img.example.com/own"
    assert webhook_of(SubmitRequest(image_url=image, webhook_url=own)) == own
    _, other = env.new_caller("other")
    assert webhook_of(SubmitRequest(image_url=image), other) is None  # per key
    env.service.set_webhook_default(env.caller, WebhookDefault(url=None))
    assert webhook_of(SubmitRequest(image_url=image)) is None
