"""The local EventBridge reads the template's rules as CloudFormation would create them."""

from __future__ import annotations

import json
import urllib.request

import pytest

from devstack.eventbus import EventBus, bus_targets, condition_holds, refused_by_rules
from devstack.status import dead_letter_queues
from tests.support import wait_for


def test_the_webhook_and_mail_rules_exist_only_with_their_parameters(template) -> None:
    assert not condition_holds(template, "HasAlertWebhook", template.parameter_defaults())
    # the accounts' webhooks and mail: always (each account's settings choose)
    always = bus_targets(template, template.parameter_defaults())["AlertBus"]
    assert sorted((t.rule, t.resource) for t in always) == [
        ("AccountEmailRule", "AccountAlertTopic"), ("AccountWebhookRule", "AccountWebhookQueue")
    ]  # fmt: skip
    given = {
        **template.parameter_defaults(),
        "AlertWebhookUrl": "http://127.0.0.1:1/h",
        "AlertEmail": "a@b.co",
    }
    targets = [t for t in bus_targets(template, given)["AlertBus"] if not t.rule.startswith("Account")]
    assert sorted(t.kind for t in targets) == ["AWS::SNS::Topic", "AWS::SQS::Queue"]
    hook = next(t for t in targets if t.kind == "AWS::SQS::Queue")
    assert hook.resource == "AlertWebhookQueue"  # AlertWebhookFunction signs and POSTs from there
    assert hook.pattern == {"source": ["powerfactor.alerts", "powerfactor.data"]}  # and data.revised
    mail = next(t for t in targets if t.kind == "AWS::SNS::Topic")
    assert mail.pattern == {"source": ["powerfactor.alerts"]}  # a mail per alert only


def test_the_local_stack_refuses_a_webhook_without_its_secret_as_cloudformation_does(template) -> None:
    defaults = template.parameter_defaults()
    assert refused_by_rules(template, defaults) == []
    hook = {**defaults, "AlertWebhookUrl": "http://127.0.0.1:1/h"}
    assert refused_by_rules(template, hook) == [
        "AlertWebhookUrl needs an AlertWebhookSecret of at least 32 characters"
    ]
    assert refused_by_rules(template, {**hook, "AlertWebhookSecret": "k" * 32}) == []


def test_the_webhook_rules_dead_letter_queue_is_shown_as_one(template) -> None:
    """`make dev`'s status lists its messages, as it does the other failure queues'."""
    assert dead_letter_queues(template) == {
        "SyncDeadLetterQueue", "StreamFailureQueue", "DailySyncFailureQueue", "AlertWebhookDeadLetterQueue",
        "AccountWebhookDeadLetterQueue",
    }  # fmt: skip


@pytest.mark.loopback
def test_put_events_as_boto3_sends_it(template) -> None:
    sent: list[tuple[str, str]] = []
    given = {**template.parameter_defaults(), "AlertWebhookUrl": "http://127.0.0.1:1/h"}
    bus = EventBus(template, given, send=lambda queue, body: sent.append((queue, body)))
    bus.start()
    try:
        entries = [
            {
                "Source": "powerfactor.alerts",
                "DetailType": "alert.data_gap.opened",
                "Detail": '{"plant_id": 1}',
                "EventBusName": "AlertBus",
            },
            {"Source": "x", "DetailType": "y", "Detail": "{}", "EventBusName": "nope"},
        ]
        request = urllib.request.Request(
            bus.url,
            data=json.dumps({"Entries": entries}).encode(),
            method="POST",
            headers={"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            answer = json.loads(response.read())
        assert answer["FailedEntryCount"] == 1 and "EventId" in answer["Entries"][0]
        (event,) = bus.events
        assert (event["bus"], event["detail-type"], event["detail"]) == (
            "AlertBus",
            "alert.data_gap.opened",
            {"plant_id": 1},
        )
        wait_for(lambda: len(sent) == 2, "the event on the webhooks' queues", cap=10)
        assert sorted(queue for queue, _ in sent) == ["AccountWebhookQueue", "AlertWebhookQueue"]
        for _, body in sent:
            assert json.loads(body) == {k: v for k, v in event.items() if k != "bus"}
    finally:
        bus.stop()
