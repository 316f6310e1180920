"""`python -m manage keys`: create, list and revoke API keys, locally or on a deployed stack.

    python -m manage keys create --name "ops laptop" --scope read --scope write [--expires-in-days 90]
    python -m manage keys list
    python -m manage keys revoke <key id>

Without `--stack` it works on the local stack's DynamoDB (`make dev`); with `--stack NAME`
(and `--region`) on the tables of that CloudFormation stack, with your AWS credentials. A new
key is printed once; it cannot be shown again (only its hash is stored).
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypedDict

from manage.target import Target, use_tables
from powerfactor.access import keys as apikeys

DEV_KEY_NAME = "development key (make dev)"


def _days(text: str) -> int:
    days = int(text)
    if days < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return days


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="action", required=True)
    create = commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument(
        "--scope", action="append", choices=sorted(apikeys.SCOPES), required=True, help="repeatable"
    )
    create.add_argument(
        "--expires-in-days", type=_days, metavar="N", help="the key stops working after N days (N >= 1)"
    )
    create.add_argument("--json", action="store_true", help="print the key and its record as JSON")
    listing = commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true")
    revoke = commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")


class _Record(TypedDict):
    """A key as `list` and `create --json` print it (no secret, no hash)."""

    id: str
    name: str
    scopes: list[str]
    status: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None


def _record(key: apikeys.ApiKey) -> _Record:
    return {
        "id": key.key_id,
        "name": key.name,
        "scopes": sorted(key.scopes),
        "status": apikeys.status(key),
        "created_at": key.created_at.isoformat(),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


def _create(args: argparse.Namespace, target: Target) -> None:
    days = args.expires_in_days
    expires = datetime.now(UTC) + timedelta(days=days) if days is not None else None
    token, key = apikeys.create_key(args.name, args.scope, expires)
    if args.json:
        print(json.dumps({"key": token, **_record(key)}))
        return
    scopes = " ".join(sorted(key.scopes))
    print(f"Created key {key.key_id} ({key.name}; {scopes}) on {target.description}.")
    print("The key, shown this once (send it as `Authorization: Bearer <key>`):")
    print(token)


def _list(args: argparse.Namespace) -> None:
    records = [_record(key) for key in apikeys.list_keys()]
    if args.json:
        print(json.dumps(records))
        return
    row = "{:<12}  {:<8}  {:<11}  {:<19}  {:<19}  {}"
    print(row.format("id", "status", "scopes", "created", "expires", "name"))
    for r in records:
        scopes = " ".join(r["scopes"])
        created, expires = str(r["created_at"])[:19], str(r["expires_at"] or "-")[:19]
        print(row.format(r["id"], r["status"], scopes, created, expires, r["name"]))


def run(args: argparse.Namespace, target: Target) -> int:
    with use_tables(target):
        if args.action == "create":
            _create(args, target)
        elif args.action == "list":
            _list(args)
        else:
            key = apikeys.revoke_key(args.key_id)
            print(f"Revoked key {key.key_id} ({key.name}) on {target.description}. The API's authorizer")
            print("cache may let it through until it expires (AuthorizerCacheTtl, 300 s by default).")
    return 0


def ensure_dev_key(path: Path, target: Target) -> tuple[str, str]:
    """The local stack's development key (every scope), kept in `path` across restarts and
    registered in the keys table if that table lost it. Returns (key, its status)."""
    token = path.read_text().strip() if path.exists() else ""
    if not apikeys.parse_token(token):
        token = apikeys.new_token()
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
            file.write(token + "\n")
    with use_tables(target):
        _, key = apikeys.create_key(DEV_KEY_NAME, apikeys.SCOPES, token=token)
        return token, apikeys.status(key)
