"""The local stack's operational signals: `GET /__devstack/status` and a line in its output.

`Status.snapshot()` gathers, each time it is asked:
- every queue of the template: messages visible, in flight and delayed (the approximate counts
  SQS gives), and whether it is a dead-letter or failure queue: the target of a queue's
  `RedrivePolicy` or an event source's `OnFailure` destination;
- the first `PEEK` messages of each dead-letter/failure queue (id, body, receive count, when sent),
  received with a visibility timeout of 0 so they stay where they are (the receive counts them
  once more, harmless on a queue nothing consumes);
- the last sync of every plant, from its sync state in the plants table (read with a plain
  client: the stack's process shares one environment among threads, so the layer's
  environment-bound models are not switched here): synced until, history from, missing days,
  the last run, the last success and the last error; `running` while a run holds its lease;
  `resync` ("from..to state") while a re-sync is queued or running.

`Status.run()` prints one summary line (`status  ...`) to stderr when the summary changes,
looking every `interval` seconds; a snapshot that fails says so in its `errors` instead.
"""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime
from typing import Any

from devstack.template import Template, on_failure_queue

PEEK = 10  # messages shown per dead-letter queue (one ReceiveMessage: SQS gives at most 10)


def dead_letter_queues(template: Template) -> set[str]:
    """Logical ids of the queues that receive what others failed: redrive targets, the
    OnFailure destinations of event sources and of functions' asynchronous invocations, and the
    dead-letter queues of EventBridge rules' targets."""
    names: set[str] = set()
    targets = [
        (props.get("RedrivePolicy") or {}).get("deadLetterTargetArn") for props in template.queues().values()
    ]
    targets += [
        (target.get("DeadLetterConfig") or {}).get("Arn")
        for resource in template.resources.values()
        if resource["Type"] == "AWS::Events::Rule"
        for target in (resource.get("Properties") or {}).get("Targets") or []
    ]
    for target in targets:
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            names.add(target["Fn::GetAtt"][0])
    configs: list[Any] = [
        props for kind in ("DynamoDB", "SQS", "Kinesis") for _, props in template.event_sources(kind)
    ]
    configs += [(r.get("Properties") or {}).get("EventInvokeConfig") for r in template.resources.values()]
    return names | {queue for config in configs if (queue := on_failure_queue(config))}


class Status:
    """Reads queue depths, dead-letter messages and plants' sync state on demand."""

    def __init__(
        self,
        sqs: Any,
        dynamodb: Any,
        queue_urls: dict[str, str],
        dead_letter: set[str],
        plants_table: str,
        interval: float = 5.0,
    ) -> None:
        self.sqs, self.dynamodb = sqs, dynamodb
        self.queue_urls, self.dead_letter = queue_urls, dead_letter
        self.plants_table, self.interval = plants_table, interval
        self.stop_event = threading.Event()
        self.last_line: str | None = None

    def snapshot(self) -> dict[str, Any]:
        """The signals as JSON-ready data, with a one-line `summary`."""
        errors: list[str] = []
        queues: dict[str, dict[str, Any]] = {}
        for name, url in sorted(self.queue_urls.items()):
            try:
                queues[name] = self._queue(url, name in self.dead_letter)
            except Exception as error:  # botocore's: the SQS server stopping, say
                errors.append(f"queue {name}: {error}")
        try:
            plants = self._plants()
        except Exception as error:
            errors.append(f"plants table: {error}")
            plants = []
        snapshot = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "queues": queues,
            "plants": plants,
            "errors": errors,
        }
        snapshot["summary"] = summary(snapshot)
        return snapshot

    def _queue(self, url: str, dead_letter: bool) -> dict[str, Any]:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        queue: dict[str, Any] = {
            "dead_letter": dead_letter,
            "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        }
        if dead_letter:
            queue["messages"] = self._peek(url) if queue["visible"] else []
        return queue

    def _peek(self, url: str) -> list[dict[str, Any]]:
        received = self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=PEEK,
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        ).get("Messages", [])
        return [
            {
                "id": m["MessageId"],
                "body": m.get("Body", ""),
                "receive_count": int(m.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
                "sent_at": _millis(m.get("Attributes", {}).get("SentTimestamp")),
            }
            for m in received
        ]

    def _plants(self) -> list[dict[str, Any]]:
        """Every plant's sync state, in id order (the sparse index `by_plant_id`)."""
        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=self.plants_table,
            IndexName="by_plant_id",
            KeyConditionExpression="entity = :e",
            ExpressionAttributeValues={":e": {"S": "plant"}},
        )
        plants, now = [], int(datetime.now(UTC).timestamp())
        for page in pages:
            for item in page["Items"]:

                def text(name: str, item: dict[str, Any] = item) -> str | None:
                    return item[name].get("S") if name in item else None

                plants.append(
                    {
                        "id": int(item["plant_id"]["N"]),
                        "name": text("name"),
                        "synced_until": text("synced_until"),
                        "history_from": text("history_from"),
                        "missing_days": len(item.get("missing_days", {}).get("L", [])),
                        "last_run_at": text("last_attempt_at"),
                        "last_success_at": text("last_success_at"),
                        "last_error": text("last_error"),
                        "running": int(item.get("lease_until", {}).get("N", 0)) > now,
                        "resync": f"{text('resync_from')}..{text('resync_to')} {text('resync_state')}"
                        if "resync_from" in item
                        else None,
                    }
                )
        return plants

    def run(self) -> None:
        """Print the summary whenever it changes (looked at every `interval` seconds)."""
        while not self.stop_event.wait(self.interval):
            line = self.snapshot()["summary"]
            if line != self.last_line:
                print(f"status  {line}", file=sys.stderr, flush=True)
                self.last_line = line

    def stop(self) -> None:
        self.stop_event.set()


def summary(snapshot: dict[str, Any]) -> str:
    """One line: each queue's visible/in-flight counts, then the plants' sync in short."""
    parts = []
    for name, q in snapshot["queues"].items():
        alarm = " (dead letters!)" if q["dead_letter"] and q["visible"] else ""
        parts.append(f"{name} {q['visible']}/{q['in_flight']}{alarm}")
    queues = ", ".join(parts)
    plants = snapshot["plants"]
    never = sum(p["synced_until"] is None for p in plants)
    failing = sum(p["last_error"] is not None for p in plants)
    running = sum(p["running"] for p in plants)
    synced = sorted(p["synced_until"] for p in plants if p["synced_until"])
    line = f"queues (visible/in flight): {queues or 'none'}; plants {len(plants)}"
    if synced:
        line += f": synced until {synced[0]}" + (f"..{synced[-1]}" if synced[-1] != synced[0] else "")
    line += f", never synced {never}, syncing {running}, last run failed {failing}"
    resyncs = sum(p.get("resync") is not None for p in plants)
    if resyncs:
        line += f", re-syncs queued or running {resyncs}"
    if snapshot["errors"]:
        line += f"; {len(snapshot['errors'])} unreadable: {snapshot['errors'][0]}"
    return line


def _millis(value: str | None) -> str | None:
    if not value:
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC).isoformat(timespec="seconds")
