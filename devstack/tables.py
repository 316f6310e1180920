"""Create the template's DynamoDB tables on any endpoint (DynamoDB Local, moto), and empty them."""

from __future__ import annotations

from typing import Any

from devstack.template import Template

_CREATE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
)


def create_table_request(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The CreateTable request for a table's template Properties (plain dicts, no tags)."""
    request: dict[str, Any] = {"TableName": name}
    for key in _CREATE_KEYS:
        if key in properties:
            request[key] = properties[key]
    if "StreamSpecification" in request:
        request["StreamSpecification"] = {"StreamEnabled": True, **request["StreamSpecification"]}
    return request


def ensure_tables(client: Any, template: Template, names: dict[str, str]) -> list[str]:
    """Create every table of the template that does not exist yet; return the names created.

    `names` maps each table's logical id to the physical name to use here.
    """
    existing = set(client.list_tables()["TableNames"])
    created = []
    for logical_id, properties in template.tables().items():
        name = names[logical_id]
        if name in existing:
            continue
        client.create_table(**create_table_request(name, properties))
        client.get_waiter("table_exists").wait(TableName=name)
        created.append(name)
    return created


def empty_table(client: Any, name: str) -> int:
    """Delete every item of a table (between tests); return how many were deleted."""
    keys = [k["AttributeName"] for k in client.describe_table(TableName=name)["Table"]["KeySchema"]]
    deleted = 0
    for page in client.get_paginator("scan").paginate(
        TableName=name,
        ProjectionExpression=", ".join(f"#k{i}" for i in range(len(keys))),
        ExpressionAttributeNames={f"#k{i}": k for i, k in enumerate(keys)},
    ):
        items = page["Items"]
        batch_write(client, name, [{"DeleteRequest": {"Key": item}} for item in items])
        deleted += len(items)
    return deleted


def batch_write(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    """Send these write requests (`PutRequest` / `DeleteRequest`) with plain boto3, 25 to a
    BatchWriteItem call, sending again whatever DynamoDB leaves unprocessed."""
    for start in range(0, len(requests), 25):
        pending = {table: requests[start : start + 25]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
