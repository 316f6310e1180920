"""`python -m manage keys`: create, list and revoke API keys of any account, locally or on a
deployed stack.

    python -m manage keys create --name "ops laptop" --scope read --scope write [--expires-in-days 90]
    python -m manage keys create --account acme --name admin --scope read --scope write --scope admin
    python -m manage keys create --account acme --name "site 7" --scope read --plant 7 --tier large
    python -m manage keys create --account acme --name bavaria --scope read --portfolio <id>
    python -m manage keys list [--account acme]
    python -m manage keys usage <key id>       # today's count against its tier's daily quota
    python -m manage keys revoke <key id>      # and flushes the API's authorizer cache: refused at once
    python -m manage keys sync-gateway         # a deployed stack: every key's API key in its plan

A key belongs to an account (`--account`, default `default`: the account today's data is in) and
may be restricted to some of its plants (`--plant`) or portfolios (`--portfolio`), both repeatable.
Without `--stack` it works on the local stack's DynamoDB (`make dev`); with `--stack NAME` (and
`--region`) on the tables of that CloudFormation stack, with your AWS credentials. A new key is
printed once; it cannot be shown again (only its hash is stored).

A key has a usage tier (`--tier`, default `standard`: its rate and daily quota). On a deployed
stack `create` also creates the key's API Gateway API key in its tier's usage plan, `revoke`
takes it out and deletes it, and `sync-gateway` puts every key right (after upgrading to usage
plans, or after a create or revoke whose gateway step failed): active keys in their tier's plan,
revoked and expired ones out (powerfactor/aws/apigateway.py).
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from manage.target import Target, TargetError, flush_authorizer_cache, use_tables
from powerfactor.access import accounts, usage
from powerfactor.access import keys as apikeys
from powerfactor.access.principal import DEFAULT_ACCOUNT, operator
from powerfactor.aws import apigateway
from powerfactor.aws.apigateway import RestApi
from powerfactor.plants import logic as plants
from powerfactor.plants import portfolios
from powerfactor.runtime.settings import DEFAULT_TIER, TIERS, get_settings

# `make dev`'s keys of the default account: the file each is kept in (beside DEV_KEY_FILE), its
# name and scopes. The admin key is kept where the single development key was.
DEV_KEYS = {
    "admin": ("", "development admin key (make dev)", ("read", "write", "admin")),
    "write": (".write", "development write key (make dev)", ("read", "write")),
    "read": (".read", "development read key (make dev)", ("read",)),
}


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
        "--account", default=DEFAULT_ACCOUNT, help="the account it belongs to (default: %(default)s)"
    )
    create.add_argument(
        "--plant",
        type=int,
        action="append",
        metavar="ID",
        help="restrict it to this plant of the account (repeatable)",
    )
    create.add_argument(
        "--portfolio",
        action="append",
        metavar="ID",
        help="restrict it to this portfolio's plants (repeatable)",
    )
    create.add_argument(
        "--scope", action="append", choices=sorted(apikeys.SCOPES), required=True, help="repeatable"
    )
    create.add_argument(
        "--expires-in-days", type=_days, metavar="N", help="the key stops working after N days (N >= 1)"
    )
    create.add_argument(
        "--tier",
        choices=TIERS,
        default=DEFAULT_TIER,
        help="its usage tier: rate and daily quota (%(default)s)",
    )
    create.add_argument("--json", action="store_true", help="print the key and its record as JSON")
    listing = commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--account", help="only this account's")
    listing.add_argument("--json", action="store_true")
    revoke = commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    used = commands.add_parser("usage", help="a key's usage today (UTC) of its tier's daily quota")
    used.add_argument("key_id")
    commands.add_parser(
        "sync-gateway", help="a deployed stack: every active key's API key in its tier's plan"
    )


def _record(key: apikeys.ApiKey) -> dict[str, object]:
    view = apikeys.key_view(key)
    return {
        **view,
        "account_id": key.account_id,
        "created_at": key.created_at.isoformat(),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


def _create(args: argparse.Namespace, target: Target) -> None:
    days = args.expires_in_days
    expires = datetime.now(UTC) + timedelta(days=days) if days is not None else None
    if args.account != DEFAULT_ACCOUNT:
        accounts.get_account(args.account)  # AccountNotFound: create the account first
    restriction = plants.reachable(operator(args.account), args.plant) if args.plant else None
    folios = portfolios.portfolios_exist(operator(args.account), args.portfolio) if args.portfolio else None
    token, key = apikeys.create_key(
        args.name,
        args.scope,
        expires,
        account_id=args.account,
        plants=restriction,
        portfolios=folios,
        tier=args.tier,
    )
    if target.rest_api is not None and not apikeys.enroll(key, RestApi(*target.rest_api)):
        print(f"Its API key could not be put in the {key.tier} usage plan: run `keys sync-gateway`.")
    if args.json:
        print(json.dumps({"key": token, **_record(key)}))
        return
    scopes = " ".join(sorted(key.scopes))
    only = f"; plants {', '.join(map(str, sorted(key.plants)))} only" if key.plants is not None else ""
    only += f"; portfolios {', '.join(sorted(key.portfolios))} only" if key.portfolios is not None else ""
    where = f"of account {key.account_id} on {target.description}"
    print(f"Created key {key.key_id} ({key.name}; {scopes}{only}; tier {key.tier}) {where}.")
    print("The key, shown this once (send it as `Authorization: Bearer <key>`):")
    print(token)


def _list(args: argparse.Namespace) -> None:
    keys = apikeys.list_keys(args.account)
    records = [_record(key) for key in keys]
    if args.json:
        print(json.dumps(records))
        return
    row = "{:<12}  {:<16}  {:<8}  {:<17}  {:<19}  {:<19}  {}"
    print(row.format("id", "account", "status", "scopes", "created", "expires", "name"))
    for key, r in zip(keys, records, strict=True):
        scopes = " ".join(sorted(key.scopes))
        created, expires = str(r["created_at"])[:19], str(r["expires_at"] or "-")[:19]
        only = f" (plants {' '.join(map(str, sorted(key.plants)))})" if key.plants else ""
        only += f" (portfolios {' '.join(sorted(key.portfolios))})" if key.portfolios else ""
        print(
            row.format(r["id"], r["account_id"], r["status"], scopes, created, expires, f"{r['name']}{only}")
        )


def _usage(key_id: str) -> None:
    key = apikeys.get_key(key_id)
    if key is None:
        raise SystemExit(f"no key {key_id}")
    today = usage.today(key.key_id, get_settings().tier(key.tier))
    print(json.dumps({"id": key.key_id, **today.view(), "resets_at": today.resets_at.isoformat()}))


def _sync_gateway(target: Target) -> int:
    """Every active key's API key in its tier's plan, every other key's out and deleted."""
    if target.rest_api is None:
        print("No usage plans on this target (the local gateway throttles by tier itself).")
        return 0
    api = RestApi(*target.rest_api)
    done = {"enrolled": 0, "withdrawn": 0, "failed": 0}
    for key in apikeys.list_keys():
        value = apikeys.usage_identifier(api.api_id, key.key_id)
        if apikeys.status(key) == "active":
            ok = apigateway.add_key(api, value, key.tier)
            done["enrolled" if ok else "failed"] += 1
        else:
            ok = apigateway.remove_key(api, value, delete=True)
            done["withdrawn" if ok else "failed"] += 1
    print(json.dumps(done))
    return 1 if done["failed"] else 0


def run(args: argparse.Namespace, target: Target) -> int:
    with use_tables(target):
        if args.action == "create":
            _create(args, target)
        elif args.action == "list":
            _list(args)
        elif args.action == "usage":
            _usage(args.key_id)
        elif args.action == "sync-gateway":
            return _sync_gateway(target)
        else:
            key = apikeys.revoke_key(args.key_id)
            if target.rest_api is not None:
                api = RestApi(*target.rest_api)
                apigateway.remove_key(api, apikeys.usage_identifier(api.api_id, key.key_id), delete=True)
            print(
                f"Revoked key {key.key_id} ({key.name}) of account {key.account_id} on {target.description};"
            )
            try:
                print(flush_authorizer_cache(target) + ".")
            except TargetError as error:
                print(f"{error}: it works until the API's authorizer cache forgets it (AuthorizerCacheTtl).")
                return 1
    return 0


def _dev_key(path: Path, name: str, scopes: tuple[str, ...]) -> tuple[str, str]:
    """One development key, kept in `path` across restarts and registered in the keys table if
    that table lost it; a new one if the file holds none, or a key of other scopes or of another
    account (the single read + write key `make dev` kept there before accounts)."""
    token = path.read_text().strip() if path.exists() else ""
    parsed = apikeys.parse_token(token)
    if parsed:
        existing = apikeys.get_key(parsed[0])
        if existing is not None and (
            existing.scopes != frozenset(scopes) or existing.account_id != DEFAULT_ACCOUNT
        ):
            parsed = None
    if not parsed:
        token = apikeys.new_token()
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
            file.write(token + "\n")
    _, key = apikeys.create_key(name, scopes, token=token, account_id=DEFAULT_ACCOUNT)
    return token, apikeys.status(key)


def ensure_dev_keys(path: Path, target: Target) -> dict[str, tuple[str, str]]:
    """The local stack's default account and its development keys: admin (kept in `path`, where
    the single development key was), write and read (beside it, `.write` and `.read`). Returns
    each as (key, its status), by role."""
    with use_tables(target):
        accounts.ensure_default_account()
        return {
            role: _dev_key(path.with_name(path.name + suffix), name, scopes)
            for role, (suffix, name, scopes) in DEV_KEYS.items()
        }
