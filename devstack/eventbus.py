"""A local EventBridge: the template's event buses, their rules, and API destinations' webhooks.

The functions publish with boto3 (`events.put_events`) as on AWS; the template's `EventsEndpoint`
points them here. This server answers the PutEvents action of EventBridge's JSON protocol
(`X-Amz-Target: AWSEvents.PutEvents`), turns each entry into the event EventBridge would deliver
(`version`, `id`, `detail-type`, `source`, `account`, `time`, `region`, `resources`, `detail`),
logs one line per event (`events  <bus> <detail-type> ...`), keeps the last `KEEP` events for
`GET /events` (and the stack's `/__devstack/events`), and delivers it to the targets of the
template's rules on that bus whose `EventPattern` matches (eventsources.matches) and whose
`Condition` holds with the stack's parameters:
- an `AWS::Events::ApiDestination` target: POSTed as JSON to its `InvocationEndpoint` (the
  local stack accepts `http://`, e.g. `--param AlertWebhookUrl=http://127.0.0.1:PORT/`), with the
  connection's API key header, retried with backoff like the rule's RetryPolicy (a few times);
- any other target (an SNS topic): logged as delivered, nothing sent.
Deliveries run in a background thread, in order, so PutEvents answers at once as on AWS.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import urllib.request
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack.eventsources import matches
from devstack.template import Template

REGION, ACCOUNT = "us-east-1", "123456789012"
KEEP = 1000
ATTEMPTS = 4


def _log(message: str) -> None:
    print(f"events  {message}", file=sys.stderr, flush=True)


def condition_holds(template: Template, name: str | None, parameters: dict[str, str]) -> bool:
    """A template condition with these parameter values (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Ref)."""
    if name is None:
        return True
    conditions = template.raw.get("Conditions", {})

    def value(node: Any) -> Any:
        if isinstance(node, dict) and "Ref" in node:
            return parameters.get(node["Ref"], "")
        if isinstance(node, dict) and "Condition" in node:
            return evaluate(conditions[node["Condition"]])
        return evaluate(node) if isinstance(node, dict) else node

    def evaluate(node: Any) -> Any:
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

    return bool(evaluate(conditions[name]))


@dataclass(frozen=True)
class Target:
    rule: str
    pattern: dict[str, Any]
    kind: str  # "webhook" or the target's resource type
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


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
            if spec.get("Type") == "AWS::Events::ApiDestination":
                dest = spec["Properties"]
                endpoint = dest["InvocationEndpoint"]
                url = parameters.get(endpoint["Ref"], "") if isinstance(endpoint, dict) else endpoint
                connection = resources[_ref(dest["ConnectionArn"]) or ""]["Properties"]
                key = (connection.get("AuthParameters") or {}).get("ApiKeyAuthParameters") or {}
                headers: tuple[tuple[str, str], ...] = ()
                if key:
                    secret = key["ApiKeyValue"]
                    secret = parameters.get(secret["Ref"], "") if isinstance(secret, dict) else secret
                    headers = ((key["ApiKeyName"], str(secret)),)
                found.setdefault(bus, []).append(Target(name, props["EventPattern"], "webhook", url, headers))
            else:
                found.setdefault(bus, []).append(Target(name, props["EventPattern"], spec.get("Type", "?")))
    return found


class EventBus:
    """The server: `start()` on host:port in a thread, `stop()`; `events` holds the last KEEP."""

    def __init__(
        self, template: Template, parameters: dict[str, str], host: str = "127.0.0.1", port: int = 0
    ):
        self.host, self.port = host, port
        # locally a bus is named by its logical id (what `!Ref` of it gives the functions)
        self.buses = {name: name for name in template.event_buses()}
        self.targets = bus_targets(template, parameters)
        self.events: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._outbox: queue.Queue[tuple[Target, dict[str, Any]] | None] = queue.Queue()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.bus = self  # type: ignore[attr-defined]
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
            _log(f"{bus} {event['detail-type']} plant {detail.get('plant_id')}: {detail.get('message')}")
            for target in self.targets.get(self.buses[bus], []):
                if matches(target.pattern, event):
                    self._outbox.put((target, event))
            results.append({"EventId": event["id"]})
        failed = sum("ErrorCode" in r for r in results)
        return {"FailedEntryCount": failed, "Entries": results}

    def _deliver_forever(self) -> None:
        while (work := self._outbox.get()) is not None:
            target, event = work
            if target.kind != "webhook" or not target.url:
                _log(f"{target.rule}: {event['detail-type']} to {target.kind} (not sent locally)")
                continue
            outcome = "failed"
            for attempt in range(ATTEMPTS):
                try:
                    request = urllib.request.Request(
                        target.url,
                        data=json.dumps(event).encode(),
                        method="POST",
                        headers={"Content-Type": "application/json", **dict(target.headers)},
                    )
                    with urllib.request.urlopen(request, timeout=5) as response:
                        outcome = f"HTTP {response.status}"
                        break
                except Exception as error:
                    outcome = f"failed: {error}"
                    time.sleep(0.2 * 2**attempt)
            self.deliveries.append({"rule": target.rule, "event": event["id"], "outcome": outcome})
            _log(f"{target.rule}: {event['detail-type']} to {target.url}: {outcome}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: dict[str, Any] | list[Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        bus: EventBus = self.server.bus  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        action = (self.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1]
        if action != "PutEvents":
            self._send(400, {"__type": "UnknownOperationException", "message": f"{action} is not emulated"})
            return
        self._send(200, bus.put_events(body.get("Entries", [])))

    def do_GET(self) -> None:
        bus: EventBus = self.server.bus  # type: ignore[attr-defined]
        self._send(200, {"events": list(bus.events), "deliveries": list(bus.deliveries)})

    def log_message(self, format: str, *args: Any) -> None:
        pass
