"""Local stand-ins for Lambda's event source mappings and for EventBridge schedules.

- `StreamPoller`: reads the DynamoDB Local stream of a table, applies the mapping's
  FilterCriteria, and invokes the function with the event Lambda sends (compare
  `sam local generate-event dynamodb update`). Partial batch failures are retried from the first
  failed record up to MaximumRetryAttempts, then the batch goes to the OnFailure queue, as
  Lambda does. Its position is saved next to DynamoDB Local's data, so a restart resumes.
- `SqsPoller`: receives from a queue, invokes with the SQS event, deletes what succeeded;
  failed messages come back after the visibility timeout and, after maxReceiveCount, go to the
  dead-letter queue (moto applies the redrive policy); a message the local stack could not run
  is made visible again at once. MaximumConcurrency bounds the invocations. Every message not
  deleted is logged with its id and why. moto's queues are made safe for concurrent requests
  first (`guard_moto_queues`).
- `Scheduler`: invokes a function with a Scheduled Event every `interval` seconds, and on demand.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.lambdas import InvocationError, LambdaRuntime

REGION = "us-east-1"


def _log(message: str) -> None:
    print(f"events  {message}", file=sys.stderr, flush=True)


# -- filter patterns (the subset of EventBridge patterns Lambda filters use) -----------------------


def matches(pattern: dict[str, Any], record: Any) -> bool:
    """Whether a record matches a Lambda filter pattern (values, `prefix`, `exists`, nesting)."""
    if not isinstance(record, dict):
        return False
    for key, expected in pattern.items():
        if isinstance(expected, dict):
            if not matches(expected, record.get(key)):
                return False
        elif not any(_match_value(rule, key, record) for rule in expected):
            return False
    return True


def _match_value(rule: Any, key: str, record: dict[str, Any]) -> bool:
    if isinstance(rule, dict):
        if "exists" in rule:
            return (key in record) == rule["exists"]
        if "prefix" in rule:
            return isinstance(record.get(key), str) and record[key].startswith(rule["prefix"])
        raise ValueError(f"the local stack does not support the filter rule {rule}")
    return key in record and record[key] == rule


def passes_filters(filter_criteria: dict[str, Any] | None, record: dict[str, Any]) -> bool:
    filters = (filter_criteria or {}).get("Filters") or []
    return not filters or any(matches(json.loads(f["Pattern"]), record) for f in filters)


# -- DynamoDB streams ----------------------------------------------------------------------------


def _lambda_stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    body = dict(record["dynamodb"])
    created = body.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        body["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }


class StreamPoller:
    def __init__(
        self,
        runtime: LambdaRuntime,
        function: str,
        properties: dict[str, Any],
        dynamodb: Any,
        streams: Any,
        sqs: Any,
        table: str,
        failure_queue_url: str | None,
        checkpoint_file: Path | None,
        interval: float = 0.5,
    ) -> None:
        self.runtime, self.function, self.properties = runtime, function, properties
        self.streams, self.sqs = streams, sqs
        self.stream_arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self.failure_queue_url = failure_queue_url
        self.checkpoint_file = checkpoint_file
        self.interval = interval
        self.batch_size = int(properties.get("BatchSize", 100))
        self.max_retries = int(properties.get("MaximumRetryAttempts", -1))
        self.positions: dict[str, str] = self._load_checkpoints()
        self.iterators: dict[str, str | None] = {}
        self.stop_event = threading.Event()

    def _load_checkpoints(self) -> dict[str, str]:
        if self.checkpoint_file and self.checkpoint_file.exists():
            saved = json.loads(self.checkpoint_file.read_text())
            if saved.get("stream") == self.stream_arn:
                return dict(saved["shards"])
        return {}

    def _save_checkpoints(self) -> None:
        if self.checkpoint_file:
            self.checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
            self.checkpoint_file.write_text(json.dumps({"stream": self.stream_arn, "shards": self.positions}))

    def _refresh_shards(self) -> None:
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in self.iterators:
                continue
            if shard_id in self.positions:
                kwargs = {
                    "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                    "SequenceNumber": self.positions[shard_id],
                }
            else:
                kwargs = {"ShardIteratorType": "TRIM_HORIZON"}
            self.iterators[shard_id] = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, **kwargs
            )["ShardIterator"]

    def run(self) -> None:
        last_refresh = 0.0
        while not self.stop_event.is_set():
            try:
                if time.monotonic() - last_refresh > 5:
                    self._refresh_shards()
                    last_refresh = time.monotonic()
                busy = False
                for shard_id, iterator in list(self.iterators.items()):
                    if iterator is not None:
                        busy |= self._poll(shard_id, iterator)
            except Exception as error:  # keep polling: a dev loop must survive a hiccup
                _log(f"stream poller error: {error!r}")
                busy = False
            if not busy:
                self.stop_event.wait(self.interval)

    def _poll(self, shard_id: str, iterator: str) -> bool:
        try:
            response = self.streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
        except (
            self.streams.exceptions.TrimmedDataAccessException,
            self.streams.exceptions.ExpiredIteratorException,
        ):
            # DynamoDB Local invalidates the iterator of a still-empty shard as soon as any table
            # is written (seen with 2026-05-28), and iterators expire after 15 minutes: take a
            # fresh one from the last record delivered (or the shard's start) and go on.
            self.iterators.pop(shard_id, None)
            self._refresh_shards()
            return True
        self.iterators[shard_id] = response.get("NextShardIterator")
        records = response.get("Records", [])
        if not records:
            return False
        wanted = [
            r for r in (_lambda_stream_record(r, self.stream_arn) for r in records)
            if passes_filters(self.properties.get("FilterCriteria"), r)
        ]  # fmt: skip
        if wanted:
            self._deliver(wanted)
        self.positions[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        self._save_checkpoints()
        return True

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        """Invoke until the batch succeeds, retrying from the first failed record."""
        attempt = 0
        while records:
            try:
                result = self.runtime.invoke(self.function, {"Records": records}) or {}
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            except InvocationError as error:
                _log(f"{self.function} failed: {error}")
                failed = {records[0]["dynamodb"]["SequenceNumber"]}
            if not failed:
                return
            first = min(i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] in failed)
            records = records[first:]
            attempt += 1
            if 0 <= self.max_retries < attempt:
                self._to_failure_destination(records)
                return
            time.sleep(min(2**attempt * 0.1, 2))

    def _to_failure_destination(self, records: list[dict[str, Any]]) -> None:
        _log(
            f"{self.function}: {len(records)} stream records failed every retry; sent to the on-failure queue"
        )
        if self.failure_queue_url:
            self.sqs.send_message(
                QueueUrl=self.failure_queue_url,
                MessageBody=json.dumps(
                    {
                        "requestContext": {
                            "condition": "RetryAttemptsExhausted",
                            "functionArn": self.function,
                        },
                        "DDBStreamBatchInfo": {
                            "streamArn": self.stream_arn,
                            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                            "batchSize": len(records),
                        },
                    }
                ),
            )

    def stop(self) -> None:
        self.stop_event.set()


# -- SQS -----------------------------------------------------------------------------------------


def guard_moto_queues() -> None:
    """Serialize the work of moto's SQS queues, which its threaded server does not (idempotent).

    moto answers each request in its own thread, but its `Queue.delete_message` rebuilds the
    queue's message list outside the queue's lock: a message sent meanwhile (sends append under
    the lock) is dropped from the queue although SendMessage succeeded, and a message another
    thread deleted meanwhile comes back, invisible until the visibility timeout. Receives also
    walk the queue's in-flight set while deletes change it. Each receive, delete and visibility
    change of a queue now holds that queue's lock, as its sends do (a long poll waits on the
    lock's condition, which releases it). This matters only where moto runs in this process:
    the local stack's SQS server and moto's mock.
    """
    from moto.sqs.models import Queue, SQSBackend

    if getattr(Queue, _GUARDED, False):
        return

    def queue_lock(backend: SQSBackend, queue_name: str, *_: object, **__: object) -> threading.Condition:
        return backend.get_queue(queue_name)._messages_lock

    _hold_lock(Queue, "delete_message", lambda queue, *_, **__: queue._messages_lock)
    _hold_lock(SQSBackend, "receive_message", queue_lock)
    _hold_lock(SQSBackend, "change_message_visibility", queue_lock)
    setattr(Queue, _GUARDED, True)


_GUARDED = "_devstack_guarded"  # set on moto's Queue once its methods hold its lock


def _hold_lock(owner: type, name: str, lock_of: Callable[..., AbstractContextManager[object]]) -> None:
    """Replace `owner`'s method `name` with one that runs it holding the lock `lock_of` finds for
    the call (given the same arguments). The wrapper takes the arguments as they come, so it is
    put in place by name: mypy rightly refuses an assignment to a method."""
    method = getattr(owner, name)

    @functools.wraps(method)
    def locked(self: object, *args: Any, **kwargs: Any) -> Any:
        with lock_of(self, *args, **kwargs):
            return method(self, *args, **kwargs)

    setattr(owner, name, locked)


class SqsPoller:
    """Lambda's SQS event source mapping: receive, invoke, then settle every message received.

    A message is settled one of three ways, and the ways other than success are logged with the
    message's id and why:
    - the function succeeded with it: deleted (a failed delete is tried again);
    - the function failed with it (raised, timed out, or listed it in `batchItemFailures`): left
      to come back after the queue's visibility timeout, as on AWS (a run stopped at its timeout
      may still hold its plant's lease, which expires before then: tests/unit/sync/test_lease.py);
    - the local stack could not run the function at all (a worker that would not start or
      died, any error outside the handler): made visible again at once.
    """

    DELETE_ATTEMPTS = 3

    def __init__(
        self,
        runtime: LambdaRuntime,
        function: str,
        properties: dict[str, Any],
        sqs: Any,
        queue_url: str,
        queue_arn: str,
    ) -> None:
        guard_moto_queues()  # the local queues are moto's, served from this process
        self.runtime, self.function, self.sqs = runtime, function, sqs
        self.queue_url, self.queue_arn = queue_url, queue_arn
        self.batch_size = min(int(properties.get("BatchSize", 10)), 10)
        self.concurrency = int((properties.get("ScalingConfig") or {}).get("MaximumConcurrency", 5))
        self.stop_event = threading.Event()

    def run(self) -> None:
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"sqs-{self.function}") as pool:
            slots = threading.Semaphore(self.concurrency)
            while not self.stop_event.is_set():
                if not slots.acquire(timeout=0.5):
                    continue
                try:
                    messages = self.sqs.receive_message(
                        QueueUrl=self.queue_url,
                        MaxNumberOfMessages=self.batch_size,
                        WaitTimeSeconds=1,
                        AttributeNames=["All"],
                        MessageAttributeNames=["All"],
                    ).get("Messages", [])
                except Exception as error:  # what it may have received comes back in its time
                    _log(f"{self.function}: receive failed: {error!r}; any message it took: {self._back()}")
                    messages = []
                    self.stop_event.wait(1)
                if not messages:
                    slots.release()
                    continue
                future = pool.submit(self._deliver, messages)
                future.add_done_callback(lambda _: slots.release())

    def _event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        """Invoke the function with these messages and settle each; never raises (it runs in a
        pool, where an exception would vanish with the messages it concerned)."""
        try:
            try:
                result = self.runtime.invoke(self.function, self._event(messages)) or {}
            except InvocationError as error:
                self._failed(messages, str(error))
                return
            except Exception as error:
                self._release(messages, f"the local stack could not invoke {self.function}: {error!r}")
                return
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            self._failed(
                [m for m in messages if m["MessageId"] in failed], "reported as a batch item failure"
            )
            self._delete([m for m in messages if m["MessageId"] not in failed])
        except Exception as error:
            _log(f"{self.function}: messages {_ids(messages)} left as they are ({error!r}); {self._back()}")

    def _failed(self, messages: list[dict[str, Any]], why: str) -> None:
        for m in messages:
            receives = m.get("Attributes", {}).get("ApproximateReceiveCount", "?")
            what = f"message {m['MessageId']} (receive {receives})"
            _log(f"{self.function} failed with {what}: {why}; {self._back()}")

    def _back(self) -> str:
        """When a message left in flight is handed out again, for the log."""
        try:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"]
            )["Attributes"]
            return f"back on the queue in {attributes['VisibilityTimeout']} s (its visibility timeout)"
        except Exception:
            return "back on the queue after its visibility timeout"

    def _release(self, messages: list[dict[str, Any]], why: str) -> None:
        """Make these messages visible again at once."""
        response = self.sqs.change_message_visibility_batch(
            QueueUrl=self.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages)
            ],
        )
        if response.get("Failed"):
            raise RuntimeError(f"{why}; ChangeMessageVisibility refused: {response['Failed']}")
        _log(f"{self.function}: messages {_ids(messages)} not run, made visible again: {why}")

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        """Delete these messages, trying again what fails; log what is still there after that."""
        pending = {str(i): m for i, m in enumerate(messages)}
        problem: object = None
        for attempt in range(self.DELETE_ATTEMPTS):
            if not pending:
                return
            if attempt:
                self.stop_event.wait(0.2 * attempt)
            try:
                response = self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": key, "ReceiptHandle": m["ReceiptHandle"]} for key, m in pending.items()],
                )
            except Exception as error:
                problem = repr(error)
                continue
            problem = response.get("Failed")
            pending = {f["Id"]: pending[f["Id"]] for f in response.get("Failed", [])}
        if pending:
            ids = _ids(list(pending.values()))
            _log(f"{self.function}: messages {ids} ran but could not be deleted ({problem}); {self._back()}")

    def stop(self) -> None:
        self.stop_event.set()


def _ids(messages: list[dict[str, Any]]) -> str:
    return ", ".join(m["MessageId"] for m in messages)


# -- schedules -----------------------------------------------------------------------------------


def scheduled_event(rule_arn: str) -> dict[str, Any]:
    """The event EventBridge sends on a schedule (`sam local generate-event cloudwatch scheduled-event`)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    }


class Scheduler:
    """A schedule rule: its timer invokes the function asynchronously, as EventBridge does, so a
    failed run is retried `retries` times and then recorded in the function's on-failure queue
    (EventInvokeConfig), in Lambda's destination record format. `fire` (on demand) is a direct,
    synchronous call: its error goes to the caller."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        function: str,
        interval: float,
        retries: int = 2,
        sqs: Any = None,
        failure_queue: str | None = None,
    ) -> None:
        self.runtime, self.function, self.interval = runtime, function, interval
        self.retries, self.sqs, self.failure_queue = retries, sqs, failure_queue
        self.rule_arn = f"arn:aws:events:{REGION}:123456789012:rule/{function}-local"
        self.stop_event = threading.Event()
        self._lock = threading.Lock()

    def fire(self) -> Any:
        with self._lock:
            _log(f"schedule fires {self.function}")
            return self.runtime.invoke(self.function, scheduled_event(self.rule_arn))

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.invoke_async()

    def invoke_async(self) -> None:
        """One asynchronous invocation: the first attempt and up to `retries` more."""
        for attempt in range(1, self.retries + 2):
            try:
                self.fire()
                return
            except InvocationError as error:
                _log(f"{self.function} failed (attempt {attempt} of {self.retries + 1}): {error}")
                last = error
        if self.sqs is not None and self.failure_queue:
            record = {
                "version": "1.0",
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": f"arn:aws:lambda:{REGION}:123456789012:function:{self.function}:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": self.retries + 1,
                },
                "requestPayload": scheduled_event(self.rule_arn),
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled",
                },
                "responsePayload": {"errorMessage": str(last)},
            }
            self.sqs.send_message(QueueUrl=self.failure_queue, MessageBody=json.dumps(record))
            _log(f"{self.function}: retries exhausted, the event is in its on-failure queue")

    def stop(self) -> None:
        self.stop_event.set()
