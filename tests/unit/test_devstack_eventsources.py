"""The local event sources: filter criteria from the template, and the event shapes Lambda sends."""

import json
from pathlib import Path

from devstack.eventsources import _lambda_stream_record, passes_filters, scheduled_event

DATA = Path(__file__).parent / "data"


def stream_filter(template) -> dict:
    ((_, props),) = template.event_sources("DynamoDB")
    return props["FilterCriteria"]


def record(event_name: str, pk: str) -> dict:
    return {"eventName": event_name, "dynamodb": {"Keys": {"pk": {"S": pk}}}}


def test_only_inserts_and_removes_of_plants_reach_the_stream_consumer(template) -> None:
    criteria = stream_filter(template)
    assert passes_filters(criteria, record("INSERT", "PLANT#7"))
    assert passes_filters(criteria, record("REMOVE", "PLANT#7"))
    assert not passes_filters(criteria, record("MODIFY", "PLANT#7"))  # renames, sync progress
    assert not passes_filters(criteria, record("INSERT", "NAME#solar park"))
    assert not passes_filters(criteria, record("INSERT", "COUNTER#plant"))


def test_stream_records_have_the_shape_lambda_sends() -> None:
    reference = json.loads((DATA / "sam-generate-event-dynamodb-update.json").read_text())["Records"][0]
    from_stream = {
        "eventID": "1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "ddblocal", "dynamodb": {"Keys": {}, "SequenceNumber": "1", "SizeBytes": 1,
                                              "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }  # fmt: skip
    built = _lambda_stream_record(from_stream, "arn:stream")
    assert set(built) == set(reference)
    assert built["eventSourceARN"] == "arn:stream"


def test_scheduled_event_has_the_shape_eventbridge_sends() -> None:
    reference = json.loads((DATA / "sam-generate-event-cloudwatch-scheduled-event.json").read_text())
    assert set(reference) <= set(scheduled_event("arn:rule"))
