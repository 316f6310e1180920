"""A local EventBridge: the template's event buses, their rules, and their queue targets.

The functions publish with boto3 (`events.put_events`) as on AWS; the template's `EventsEndpoint`
points them here. This server answers the PutEvents action of EventBridge's JSON protocol
(`X-Amz-Target: AWSEvents.PutEvents`), turns each entry into the event EventBridge would deliver
(`version`, `id`, `detail-type`, `source`, `account`, `time`, `region`, `resources`, `detail`),
logs one line per event (`events  <bus> <detail-type> ...`), keeps the last `KEEP` events for
`GET /events` (and the stack's `/__devstack/events`), and delivers it to the targets of the
template's rules on that bus whose `EventPattern` matches (eventsources.matches) and whose
`Condition` holds with the stack's parameters:
- an `AWS::SQS::Queue` target: the event as JSON, sent to the queue by `send(queue, body)` (the
  local stack's SQS; the alert webhook's queue, whose function signs and POSTs it: the local
  stack accepts `http://`, e.g. `--param AlertWebhookUrl=http://127.0.0.1:PORT/`);
- any other target (an SNS topic), or a queue without `send`: logged, nothing sent.
Deliveries run in a background thread, in order, so PutEvents answers at once as on AWS.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack.eventsources import matches
from devstack.template import Template

REGION, ACCOUNT = "us-east-1", "123456789012"
KEEP = 1000


def _log(message: str) -> None:
    print(f"events  {message}", file=sys.stderr, flush=True)


def evaluate(template: Template, node: Any, parameters: dict[str, str]) -> Any:
    """A condition or a rule's assertion with these parameter values (Fn::Equals, Fn::Not,
    Fn::And, Fn::Or, Ref, Condition)."""
    conditions = template.raw.get("Conditions", {})

    def value(node: Any) -> Any:
        if isinstance(node, dict) and "Ref" in node:
            return parameters.get(node["Ref"], "")
        if isinstance(node, dict) and "Condition" in node:
            return walk(conditions[node["Condition"]])
        return walk(node) if isinstance(node, dict) else node

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ((fn, args),) = node.items()
            if fn == "Fn::Equals":
                return str(value(args[0])) == str(value(args[1]))
            if fn == "Fn::Not":
                return not value(args[0])
            if fn == "Fn::And":
                return all(value(a) for a in args)
            if fn == "Fn::Or":
                return any(value(a) for a in args)
            return value(node)
        return node

    return walk(node)


def condition_holds(template: Template, name: str | None, parameters: dict[str, str]) -> bool:
    """A template condition with these parameter values."""
    if name is None:
        return True
    return bool(evaluate(template, template.raw.get("Conditions", {})[name], parameters))


def refused_by_rules(template: Template, parameters: dict[str, str]) -> list[str]:
    """What the template's Rules say of these parameter values (CloudFormation would refuse the
    deploy): each failed assertion's description."""
    refused = []
    for rule in template.raw.get("Rules", {}).values():
        if evaluate(template, rule.get("RuleCondition", True), parameters):
            refused += [
                a.get("AssertDescription", "a rule refuses these parameters")
                for a in rule["Assertions"]
                if not evaluate(template, a["Assert"], parameters)
            ]
    return refused


@dataclass(frozen=True)
class Target:
    rule: str
    pattern: dict[str, Any]
    kind: str  # the target's resource type
    resource: str | None = None  # its logical id


def _ref(node: Any) -> str | None:
    if isinstance(node, dict):
        if "Ref" in node:
            return node["Ref"]
        if "Fn::GetAtt" in node:
            return node["Fn::GetAtt"][0]
    return None


def bus_targets(template: Template, parameters: dict[str, str]) -> dict[str, list[Target]]:
    """Bus logical id -> the targets of its rules that exist with these parameters."""
    resources = template.resources
    found: dict[str, list[Target]] = {}
    for name, rule in resources.items():
        if rule["Type"] != "AWS::Events::Rule" or not condition_holds(
            template, rule.get("Condition"), parameters
        ):
            continue
        props = rule["Properties"]
        bus = _ref(props.get("EventBusName"))
        if bus is None or "EventPattern" not in props:
            continue
        for target in props.get("Targets", []):
            resource = _ref(target["Arn"])
            spec = resources.get(resource or "", {})
            kind = spec.get("Type", "?")
            found.setdefault(bus, []).append(Target(name, props["EventPattern"], kind, resource))
    return found


class EventBus:
    """The server: `start()` on host:port in a thread, `stop()`; `events` holds the last KEEP."""

    def __init__(
        self,
        template: Template,
        parameters: dict[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        send: Callable[[str, str], None] | None = None,
    ):
        self.host, self.port = host, port
        self.send = send  # (queue's logical id, message body): a queue target's messages
        # locally a bus is named by its logical id (what `!Ref` of it gives the functions)
        self.buses = {name: name for name in template.event_buses()}
        self.targets = bus_targets(template, parameters)
        self.events: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._outbox: queue.Queue[tuple[Target, dict[str, Any]] | None] = queue.Queue()
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        server = _Server((self.host, self.port), self)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="eventbus", daemon=True
        ).start()
        threading.Thread(target=self._deliver_forever, name="eventbus-delivery", daemon=True).start()

    def stop(self) -> None:
        self._outbox.put(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def put_events(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        results = []
        for entry in entries:
            bus = entry.get("EventBusName") or "default"
            if bus not in self.buses or not entry.get("Source") or not entry.get("DetailType"):
                results.append(
                    {"ErrorCode": "InvalidArgument", "ErrorMessage": f"unknown bus {bus} or no source"}
                )
                continue
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": entry["DetailType"],
                "source": entry["Source"],
                "account": ACCOUNT,
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": REGION,
                "resources": entry.get("Resources", []),
                "detail": json.loads(entry.get("Detail") or "{}"),
            }
            self.events.append({"bus": bus, **event})
            detail = event["detail"]
            said = detail.get("message") or (  # an alert's message; a data.revised event's counts
                f"{detail.get('cause')} {detail.get('from')}..{detail.get('to')}: "
                f"{detail.get('changed')} changed, {detail.get('removed')} removed, "
                f"{detail.get('restored')} restored"
            )
            _log(f"{bus} {event['detail-type']} plant {detail.get('plant_id')}: {said}")
            for target in self.targets.get(self.buses[bus], []):
                if matches(target.pattern, event):
                    self._outbox.put((target, event))
            results.append({"EventId": event["id"]})
        failed = sum("ErrorCode" in r for r in results)
        return {"FailedEntryCount": failed, "Entries": results}

    def _deliver_forever(self) -> None:
        while (work := self._outbox.get()) is not None:
            target, event = work
            if target.kind != "AWS::SQS::Queue" or self.send is None or target.resource is None:
                _log(f"{target.rule}: {event['detail-type']} to {target.kind} (not sent locally)")
                continue
            try:
                self.send(target.resource, json.dumps(event))
                outcome = "queued"
            except Exception as error:  # the delivery thread must go on
                outcome = f"failed: {error!r}"
            self.deliveries.append({"rule": target.rule, "event": event["id"], "outcome": outcome})
            _log(f"{target.rule}: {event['detail-type']} to {target.resource}: {outcome}")


class _Server(ThreadingHTTPServer):
    """The bus's HTTP server; its handlers find the bus on it."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], bus: EventBus) -> None:
        super().__init__(address, _Handler)
        self.bus = bus


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _send(self, status: int, body: dict[str, Any] | list[Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        bus = self.server.bus
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        action = (self.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1]
        if action != "PutEvents":
            self._send(400, {"__type": "UnknownOperationException", "message": f"{action} is not emulated"})
            return
        self._send(200, bus.put_events(body.get("Entries", [])))

    def do_GET(self) -> None:
        bus = self.server.bus
        self._send(200, {"events": list(bus.events), "deliveries": list(bus.deliveries)})

    def log_message(self, format: str, *args: Any) -> None:
        pass
