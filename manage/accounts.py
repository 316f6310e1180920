"""`python -m manage accounts`: create, list and change accounts, locally or on a deployed stack.

    python -m manage accounts create --name "Acme Solar" [--id acme] [--max-plants 500]
    python -m manage accounts list [--json]
    python -m manage accounts rename acme --name "Acme Solar GmbH"
    python -m manage accounts limit acme 1000        # its own plant limit; `none`: the deployment's MaxPlants

An account owns plants and keys; create its first key with
`python -m manage keys create --account acme --name admin --scope read --scope write --scope admin`,
then its admin keys manage its other keys over the API. No HTTP route creates or changes accounts.
"""

from __future__ import annotations

import argparse
import json

from manage.target import Target, use_tables
from powerfactor.access import accounts
from powerfactor.plants import logic as plants


def _limit(text: str) -> int | None:
    if text == "none":
        return None
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more, or `none`")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="action", required=True)
    create = commands.add_parser("create", help="create an account")
    create.add_argument("--name", required=True, help="who it is, for people")
    create.add_argument("--id", dest="account_id", help="1-40 of a-z, 0-9, inner hyphens (default: random)")
    create.add_argument("--max-plants", type=_limit, help="its own plant limit (default: MaxPlants alone)")
    create.add_argument("--json", action="store_true")
    listing = commands.add_parser("list", help="list accounts with their plant counts")
    listing.add_argument("--json", action="store_true")
    rename = commands.add_parser("rename", help="rename an account")
    rename.add_argument("account_id")
    rename.add_argument("--name", required=True)
    limit = commands.add_parser("limit", help="set an account's own plant limit (`none`: MaxPlants alone)")
    limit.add_argument("account_id")
    limit.add_argument("max_plants", type=_limit)


def _record(account: accounts.Account) -> dict[str, object]:
    counted, _ = plants.account_plants_counted(account.account_id)
    return {
        "id": account.account_id,
        "name": account.name,
        "max_plants": account.max_plants,
        "plants": counted,
        "created_at": account.created_at.isoformat(),
    }


def run(args: argparse.Namespace, target: Target) -> int:
    with use_tables(target):
        if args.action == "create":
            account = accounts.create_account(args.name, args.account_id, args.max_plants)
            if args.json:
                print(json.dumps(_record(account)))
            else:
                print(f"Created account {account.account_id} ({account.name}) on {target.description}.")
        elif args.action == "list":
            records = [_record(a) for a in accounts.list_accounts()]
            if args.json:
                print(json.dumps(records))
                return 0
            row = "{:<40}  {:>6}  {:>10}  {}"
            print(row.format("id", "plants", "max plants", "name"))
            for r in records:
                print(row.format(r["id"], r["plants"], str(r["max_plants"] or "-"), r["name"]))
        elif args.action == "rename":
            account = accounts.rename_account(args.account_id, args.name)
            print(f"Account {account.account_id} is now named {account.name!r}.")
        else:
            account = accounts.set_plant_limit(args.account_id, args.max_plants)
            shown = account.max_plants if account.max_plants is not None else "the deployment's MaxPlants"
            print(f"Account {account.account_id} may hold {shown} plants.")
    return 0
