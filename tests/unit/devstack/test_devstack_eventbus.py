"""The local EventBridge reads the template's rules as CloudFormation would create them."""

from __future__ import annotations

import json
import urllib.request

import pytest

from devstack.eventbus import EventBus, bus_targets, condition_holds
from devstack.status import dead_letter_queues


def test_the_webhook_and_mail_rules_exist_only_with_their_parameters(template) -> None:
    assert not condition_holds(template, "HasAlertWebhook", template.parameter_defaults())
    assert bus_targets(template, template.parameter_defaults()) == {}
    given = {
        **template.parameter_defaults(),
        "AlertWebhookUrl": "http://127.0.0.1:1/h",
        "AlertEmail": "a@b.co",
    }
    targets = bus_targets(template, given)["AlertBus"]
    assert sorted(t.kind for t in targets) == ["AWS::SNS::Topic", "webhook"]
    assert all(t.pattern == {"source": ["powerfactor.alerts"]} for t in targets)
    hook = next(t for t in targets if t.kind == "webhook")
    assert hook.url == "http://127.0.0.1:1/h"
    assert dict(hook.headers) == {"X-PowerFactor-Webhook-Secret": "none"}


def test_the_webhook_rules_dead_letter_queue_is_shown_as_one(template) -> None:
    """`make dev`'s status lists its messages, as it does the other failure queues'."""
    assert dead_letter_queues(template) == {
        "SyncDeadLetterQueue", "StreamFailureQueue", "DailySyncFailureQueue", "AlertWebhookDeadLetterQueue"
    }  # fmt: skip


@pytest.mark.loopback
def test_put_events_as_boto3_sends_it(template) -> None:
    bus = EventBus(template, template.parameter_defaults())
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
    finally:
        bus.stop()
