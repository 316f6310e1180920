"""The local event sources: filter criteria from the template, the event shapes Lambda sends, and
the SQS poller's handling of every message it receives (moto)."""

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
from moto.sqs.models import sqs_backends

from devstack.eventsources import (
    Scheduler,
    SqsPoller,
    _lambda_stream_record,
    guard_moto_queues,
    passes_filters,
    scheduled_event,
)
from devstack.lambdas import InvocationError

DATA = Path(__file__).parents[1] / "data"


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


# -- the SQS poller: every message received is run, or visible again, or logged ------------------

WORKER = "SyncWorkerFunction"
PROPERTIES = {"BatchSize": 1, "ScalingConfig": {"MaximumConcurrency": 2}}


class FakeRuntime:
    """Plays the local Lambda runtime: each invocation does the next of `outcomes` (then succeeds)."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[str] = []  # the message ids of each invocation

    def invoke(self, name: str, event: dict) -> object:
        assert name == WORKER
        self.calls.extend(r["messageId"] for r in event["Records"])
        outcome = self.outcomes.pop(0) if self.outcomes else {}
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class Stderr:
    """What the poller logged so far (capsys gives each read once; this keeps it all)."""

    def __init__(self, capsys) -> None:
        self.capsys, self.text = capsys, ""

    def __contains__(self, part: str) -> bool:
        self.text += self.capsys.readouterr().err
        return part in self.text


def wait_for(condition, what: str, cap: float = 60) -> None:
    deadline = time.monotonic() + cap
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def counts(sqs, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@contextmanager
def polling(runtime: FakeRuntime, queue_url: str, sqs=None) -> Iterator[SqsPoller]:
    sqs = sqs or boto3.client("sqs", region_name="us-east-1")
    poller = SqsPoller(
        runtime, WORKER, PROPERTIES, sqs, queue_url, "arn:aws:sqs:us-east-1:123456789012:SyncQueue"
    )
    thread = threading.Thread(target=poller.run, daemon=True)
    thread.start()
    try:
        yield poller
    finally:
        poller.stop()
        thread.join()


def send(queue_url: str) -> str:
    sqs = boto3.client("sqs", region_name="us-east-1")
    return sqs.send_message(QueueUrl=queue_url, MessageBody='{"plant_id": 1, "reason": "daily"}')["MessageId"]


def test_a_message_the_local_stack_could_not_run_is_visible_again_at_once(aws, capsys) -> None:
    """The worker process died (or would not start): the message is not left invisible for the
    queue's 30 minutes; it runs again at once, and the log names it."""
    runtime, log = FakeRuntime(EOFError("the worker died")), Stderr(capsys)
    message = send(aws["SyncQueue"])
    with polling(runtime, aws["SyncQueue"]):
        wait_for(lambda: len(runtime.calls) == 2, "the message run again")
        wait_for(lambda: counts(boto3.client("sqs", region_name="us-east-1"), aws["SyncQueue"]) == (0, 0),
                 "the message deleted after it succeeded")  # fmt: skip
    assert runtime.calls == [message, message]
    assert f"messages {message} not run, made visible again" in log and "the worker died" in log


def test_a_message_the_function_failed_stays_in_flight_as_on_aws_and_is_logged(aws, capsys) -> None:
    runtime, log = (
        FakeRuntime(InvocationError({"errorType": "SyncFailed", "errorMessage": "HTTP 503"})),
        Stderr(capsys),
    )
    message = send(aws["SyncQueue"])
    with polling(runtime, aws["SyncQueue"]):
        wait_for(lambda: f"failed with message {message} (receive 1)" in log, "the failure logged")
    assert "SyncFailed: HTTP 503" in log and "back on the queue in 1800 s" in log
    assert counts(boto3.client("sqs", region_name="us-east-1"), aws["SyncQueue"]) == (0, 1)
    assert runtime.calls == [message]


def test_a_batch_item_failure_is_logged_and_the_other_messages_deleted(aws, capsys) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    first, second = send(aws["SyncQueue"]), send(aws["SyncQueue"])
    poller = SqsPoller(FakeRuntime({"batchItemFailures": [{"itemIdentifier": second}]}), WORKER,
                       {"BatchSize": 10}, sqs, aws["SyncQueue"], "arn:queue")  # fmt: skip
    messages = sqs.receive_message(QueueUrl=aws["SyncQueue"], MaxNumberOfMessages=10)["Messages"]
    assert {m["MessageId"] for m in messages} == {first, second}
    poller._deliver(messages)
    assert counts(sqs, aws["SyncQueue"]) == (0, 1)
    assert f"failed with message {second}" in Stderr(capsys)


class FlakyDeletes:
    """An SQS client whose first `failures` DeleteMessageBatch calls fail (a connection reset)."""

    def __init__(self, failures: int) -> None:
        self.sqs, self.failures = boto3.client("sqs", region_name="us-east-1"), failures

    def delete_message_batch(self, **kwargs: object) -> object:
        if self.failures:
            self.failures -= 1
            raise ConnectionResetError("connection reset by peer")
        return self.sqs.delete_message_batch(**kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sqs, name)


def test_a_delete_that_fails_is_tried_again(aws) -> None:
    runtime, flaky = FakeRuntime(), FlakyDeletes(failures=1)
    send(aws["SyncQueue"])
    with polling(runtime, aws["SyncQueue"], flaky):
        wait_for(lambda: flaky.failures == 0 and counts(flaky.sqs, aws["SyncQueue"]) == (0, 0), "the delete")
    assert len(runtime.calls) == 1


def test_a_message_that_could_not_be_deleted_is_logged(aws, capsys) -> None:
    runtime, flaky = FakeRuntime(), FlakyDeletes(failures=SqsPoller.DELETE_ATTEMPTS)
    message = send(aws["SyncQueue"])
    with polling(runtime, aws["SyncQueue"], flaky):
        wait_for(lambda: f"messages {message} ran but could not be deleted" in Stderr(capsys), "the log line")
    assert counts(flaky.sqs, aws["SyncQueue"]) == (0, 1)


def test_moto_queues_lose_no_message_under_concurrent_sends_receives_and_deletes(aws) -> None:
    """moto's server runs each request in a thread; unguarded, a delete that overlaps a send or
    another delete drops the sent message or brings the deleted one back (about one message in
    thirty here): the local stack's lost job. Five consumers and a producer on one queue."""
    guard_moto_queues()
    backend = sqs_backends["123456789012"]["us-east-1"]
    sent = [f"early {i}" for i in range(300)] + [f"late {i}" for i in range(150)]
    for body in sent[:300]:
        backend.send_message("SyncQueue", body)
    received, errors, sending = [], [], threading.Event()

    def produce() -> None:
        for body in sent[300:]:
            backend.send_message("SyncQueue", body)
        sending.set()

    def consume() -> None:
        while True:
            try:
                messages = backend.receive_message("SyncQueue", 1, 0, 1800)
                if not messages and sending.is_set():
                    return
                for message in messages:
                    received.append(message.body)
                    backend.delete_message("SyncQueue", message.receipt_handle)
            except Exception as error:  # unguarded moto raises too: a handle or a set changed
                errors.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, as a loaded machine does
    try:
        threads = [threading.Thread(target=produce)] + [threading.Thread(target=consume) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert sorted(received) == sorted(sent)  # each message received once
    assert counts(boto3.client("sqs", region_name="us-east-1"), aws["SyncQueue"]) == (0, 0)


class FailingRuntime:
    """A runtime whose function fails its first `failures` invocations."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def invoke(self, name: str, event: dict) -> dict:
        self.calls += 1
        if self.calls <= self.failures:
            raise InvocationError({"errorType": "RuntimeError", "errorMessage": f"run {self.calls} failed"})
        return {"queued": 0}


def test_a_scheduled_run_failing_every_retry_lands_in_the_on_failure_queue(aws) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = aws["DailySyncFailureQueue"]
    runtime = FailingRuntime(failures=99)
    Scheduler(runtime, "DailySyncFunction", 3600, retries=2, sqs=sqs, failure_queue=queue).invoke_async()
    assert runtime.calls == 3  # the first attempt and two retries, as MaximumRetryAttempts: 2
    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"]["detail-type"] == "Scheduled Event"
    assert record["responsePayload"] == {"errorMessage": "RuntimeError: run 3 failed"}

    runtime = FailingRuntime(failures=2)  # the last retry succeeds: nothing to record
    Scheduler(runtime, "DailySyncFunction", 3600, retries=2, sqs=sqs, failure_queue=queue).invoke_async()
    assert runtime.calls == 3
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)
