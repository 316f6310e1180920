"""Signed webhooks (powerfactor.alerts.webhook, functions/alert_webhook): each delivery carries a
timestamp and an HMAC-SHA256 of the timestamp and the body, which a receiver's reference
verifier (tests.support.WebhookVerifier, written from the README's recipe) accepts once, and only
within five minutes, for the exact body sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack.lambdas import load_handler
from devstack.template import ROOT
from powerfactor.alerts import webhook
from powerfactor.runtime.settings import ConfigurationError, Settings
from tests.support import WebhookVerifier, base_url, serving, webhook_receiver

SECRET = "k" * 20 + "-webhook-secret-0123"  # 40 characters
NOW = 1_765_000_000
EVENT = {"version": "0", "id": "e-1", "detail-type": "alert.data_gap.opened", "source": "powerfactor.alerts",
         "detail": {"plant_id": 7, "message": "no data for 3 days"}}  # fmt: skip
BODY = json.dumps(EVENT).encode()


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    headers = webhook.signed_headers([SECRET], BODY, NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers == {
        "Content-Type": "application/json",
        "PowerFactor-Timestamp": str(NOW),
        "PowerFactor-Signature": f"v1={expected}",
    }
    assert webhook.TOLERANCE_SECONDS == 300


def test_during_a_rotation_each_secret_signs() -> None:
    old, new = SECRET, "n" * 40
    header = webhook.signed_headers([new, old], BODY, NOW)["PowerFactor-Signature"]
    assert header.count("v1=") == 2
    for secret in (old, new):  # a receiver that knows either secret accepts the delivery
        assert (
            WebhookVerifier(secret, clock=lambda: NOW).check(
                {"PowerFactor-Timestamp": str(NOW), "PowerFactor-Signature": header}, BODY
            )
            is None
        )
    with pytest.raises(ValueError):
        webhook.signed_headers([], BODY, NOW)


def test_the_reference_verifier_accepts_once_and_refuses_tampering_staleness_and_replay() -> None:
    now = [float(NOW)]
    verifier = WebhookVerifier(SECRET, clock=lambda: now[0])
    headers = webhook.signed_headers([SECRET], BODY, NOW)
    assert verifier.check(headers, BODY) is None
    assert verifier.check(headers, BODY) == "replay"  # the same (timestamp, signature) again
    tampered = json.dumps({**EVENT, "detail": {**EVENT["detail"], "plant_id": 8}}).encode()
    fresh = webhook.signed_headers([SECRET], BODY, NOW + 1)
    assert verifier.check(fresh, tampered) == "bad signature"
    assert verifier.check(fresh, BODY + b" ") == "bad signature"  # any byte counts
    assert verifier.check({**fresh, "PowerFactor-Timestamp": str(NOW + 2)}, BODY) == "bad signature"
    assert WebhookVerifier("x" * 40, clock=lambda: now[0]).check(fresh, BODY) == "bad signature"
    assert verifier.check({"PowerFactor-Timestamp": str(NOW)}, BODY) == "unsigned"
    now[0] = NOW + 301  # five minutes and a second later: stale, even never seen before
    assert verifier.check(headers, BODY) == "stale"  # stale is said before replay
    assert (
        verifier.check(webhook.signed_headers([SECRET], BODY, NOW + 1000), BODY) == "stale"
    )  # the future too
    assert verifier.check(fresh, BODY) is None  # within the window, and not seen: accepted


def test_the_secret_is_read_checked_and_never_shown() -> None:
    base = {"PLANTS_TABLE": "p", "DATAPOINTS_TABLE": "d", "ALERT_WEBHOOK_URL": "https://h.example/x"}
    settings = Settings.from_env({**base, "ALERT_WEBHOOK_SECRET": SECRET})
    assert settings.webhook == ("https://h.example/x", [SECRET])
    assert SECRET not in repr(settings)
    short = "s" * 31
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({**base, "ALERT_WEBHOOK_SECRET": short})
    assert "ALERT_WEBHOOK_SECRET" in str(refused.value) and short not in str(refused.value)
    with pytest.raises(ConfigurationError):
        Settings.from_env({**base, "ALERT_WEBHOOK_SECRET": "none"}).webhook  # noqa: B018


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict]]]:
    with webhook_receiver(SECRET) as running:
        yield running


@contextmanager
def answering(status: Callable[[bytes], int], location: str = "") -> Iterator[str]:
    """A server on 127.0.0.1 answering each POST with status(body) (and a Location); its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status(body))
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        yield base_url(server) + "hook"


@pytest.mark.loopback
def test_a_delivery_is_verified_by_the_receiver_and_its_replay_refused(receiver) -> None:
    url, received = receiver
    assert webhook.deliver(url, [SECRET], BODY) == 204
    (got,) = received
    assert got["refused"] is None and got["body"] == BODY and got["event"] == EVENT
    assert got["headers"]["content-type"] == "application/json"
    replayed = webhook.new_session().post(url, data=got["body"], headers=got["headers"], timeout=5)
    assert replayed.status_code == 400 and received[-1]["refused"] == "replay"
    with pytest.raises(webhook.DeliveryFailed, match="HTTP 400"):
        webhook.deliver(url, ["w" * 40], BODY)  # signed with another secret
    assert received[-1]["refused"] == "bad signature"


@pytest.mark.loopback
def test_a_redirect_is_not_followed_and_an_unreachable_receiver_fails(receiver) -> None:
    url, received = receiver
    with (
        answering(lambda _: 307, location=url) as redirecting,
        pytest.raises(webhook.DeliveryFailed, match="HTTP 307"),
    ):
        webhook.deliver(redirecting, [SECRET], BODY)
    assert received == []  # the redirect's target never saw it
    with pytest.raises(webhook.DeliveryFailed, match="unreachable"):
        webhook.deliver(redirecting, [SECRET], BODY)  # closed now: nothing listens


QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:AlertWebhookQueue"


def _sqs_event(*bodies: bytes) -> dict:
    return {
        "Records": [
            {"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": body.decode(),
             "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
             "eventSource": "aws:sqs", "eventSourceARN": QUEUE_ARN,
             "awsRegion": "us-east-1"}
            for i, body in enumerate(bodies)
        ]
    }  # fmt: skip


@pytest.mark.loopback
def test_the_handler_posts_each_message_signed_and_reports_what_failed(
    template, use_function_env, lambda_context, receiver, capsys, caplog
) -> None:
    url, received = receiver
    use_function_env("AlertWebhookFunction", AlertWebhookUrl=url, AlertWebhookSecret=SECRET)
    handle = load_handler(template.functions()["AlertWebhookFunction"], template.layer_dirs())
    other = json.dumps({**EVENT, "id": "e-2"}).encode()
    assert handle(_sqs_event(BODY, other), lambda_context) == {"batchItemFailures": []}
    assert [r["body"] for r in received] == [BODY, other] and not any(r["refused"] for r in received)
    # anything but a 2xx is a failed item, which SQS hands out again later
    with answering(lambda body: 503 if b"e-2" in body else 200) as flaky:
        use_function_env("AlertWebhookFunction", AlertWebhookUrl=flaky, AlertWebhookSecret=SECRET)
        assert handle(_sqs_event(BODY, other), lambda_context) == {
            "batchItemFailures": [{"itemIdentifier": "m1"}]
        }
    out, err = capsys.readouterr()
    logged = out + err + caplog.text  # Powertools prints, or propagates when another test set it so
    assert "webhook delivery failed" in logged and SECRET not in logged


def test_the_readmes_snippet_verifies_a_delivery_once_and_refuses_tampering() -> None:
    text = (ROOT / "README.md").read_text()
    (code,) = re.findall(r"### Verifying webhooks.*?```python\n(.*?)```", text, re.S)
    namespace: dict = {}
    exec(code, namespace)  # our own README
    verify, seen = namespace["verify"], set()
    headers = webhook.signed_headers([SECRET], BODY, int(time.time()))
    assert verify(SECRET.encode(), headers, BODY, seen)
    assert not verify(SECRET.encode(), headers, BODY, seen)  # the replay
    assert not verify(SECRET.encode(), headers, BODY + b" ", set())
    assert not verify(SECRET.encode(), webhook.signed_headers([SECRET], BODY, NOW), BODY, set())  # stale
