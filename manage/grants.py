"""`python -m manage grants`: what accounts share with each other, locally or on a deployed stack,
as their admin keys manage it over the API (`/api/solar-plant/grants`).

    python -m manage grants create --account globex --to acme --plant 7 [--access write]
    python -m manage grants create --account globex --to acme --portfolio <portfolio id>
    python -m manage grants list --account globex [--received] [--json]
    python -m manage grants revoke --account globex <grant id>   # and flushes the authorizer cache

A grant reaches the grantee's keys through the authorizer: a new or revoked grant applies once
API Gateway's cached answer for a key expires (AuthorizerCacheTtl); `create` and `revoke` flush
the stage's cache, so here it applies at once.
"""

from __future__ import annotations

import argparse
import json

from manage.target import Target, TargetError, flush_authorizer_cache, use_tables
from powerfactor.access import accounts
from powerfactor.access.principal import DEFAULT_ACCOUNT, operator
from powerfactor.plants import sharing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="action", required=True)
    create = commands.add_parser("create", help="share a plant or a portfolio with another account")
    create.add_argument("--to", required=True, metavar="ACCOUNT", help="the account shared with")
    target = create.add_mutually_exclusive_group(required=True)
    target.add_argument("--plant", type=int, metavar="ID")
    target.add_argument("--portfolio", metavar="ID")
    create.add_argument("--access", choices=("read", "write"), default="read")
    listing = commands.add_parser("list", help="the grants the account gives (or, --received, holds)")
    listing.add_argument("--received", action="store_true")
    revoke = commands.add_parser("revoke", help="revoke a grant the account gave")
    revoke.add_argument("grant_id")
    for command in (create, listing, revoke):
        command.add_argument("--account", default=DEFAULT_ACCOUNT, help="the account (default: %(default)s)")
        command.add_argument("--json", action="store_true")


def _flush(target: Target) -> int:
    try:
        done = flush_authorizer_cache(target).split(":")[0]
        print(f"{done}: the change applies from the next request on.")
    except TargetError as error:
        print(
            f"{error}: it applies when the API's authorizer cache forgets its answers (AuthorizerCacheTtl)."
        )
        return 1
    return 0


def run(args: argparse.Namespace, target: Target) -> int:
    with use_tables(target):
        if args.account != DEFAULT_ACCOUNT:
            accounts.get_account(args.account)  # AccountNotFound
        who = operator(args.account)
        if args.action == "list":
            read = sharing.received if args.received else sharing.given
            items, cursor = read(who, sharing.MAX_PAGE_SIZE)
            found = list(items)
            while cursor:
                items, cursor = read(who, sharing.MAX_PAGE_SIZE, cursor)
                found += items
            rows = [json.loads(sharing.view(g).model_dump_json()) for g in found]
            if args.json:
                print(json.dumps(rows))
            else:
                for row in rows:
                    print("  ".join(f"{k}={v}" for k, v in row.items() if v is not None))
            return 0
        if args.action == "create":
            made = sharing.grant(who, args.to, args.access, args.plant, args.portfolio)
            print(
                json.dumps(json.loads(sharing.view(made).model_dump_json()))
                if args.json
                else f"Granted {made.grant_id}."
            )
        else:
            gone = sharing.revoke(who, args.grant_id)
            print(
                json.dumps(json.loads(sharing.view(gone).model_dump_json()))
                if args.json
                else f"Revoked {gone.grant_id}."
            )
    return _flush(target)
