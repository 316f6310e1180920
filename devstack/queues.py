"""Create the template's SQS queues on any endpoint (moto's server locally, moto's mock in tests)."""

from __future__ import annotations

import json
from typing import Any

from devstack.template import Template

ACCOUNT = "123456789012"


def queue_arn(name: str, region: str = "us-east-1") -> str:
    return f"arn:aws:sqs:{region}:{ACCOUNT}:{name}"


def _attribute(value: Any) -> str:
    """A queue attribute as SQS takes it; `!GetAtt X.Arn` of another queue resolved."""
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        if attribute != "Arn":
            raise ValueError(f"cannot resolve {value}")
        return queue_arn(logical_id)
    if isinstance(value, dict):
        return json.dumps({k: _attribute(v) if isinstance(v, dict) else v for k, v in value.items()})
    return str(value)


def ensure_queues(client: Any, template: Template) -> dict[str, str]:
    """Create every queue of the template (named by logical id); return logical id -> URL."""
    queues = template.queues()
    urls: dict[str, str] = {}
    # dead-letter queues first: a redrive policy needs its target to exist
    ordered = sorted(queues, key=lambda name: "RedrivePolicy" in queues[name])
    for name in ordered:
        attributes = {key: _attribute(value) for key, value in queues[name].items()}
        urls[name] = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return urls
