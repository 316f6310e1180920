"""`python -m manage portfolios`: an account's portfolios, locally or on a deployed stack, as its
admin keys manage them over the API (`/api/solar-plant/portfolios`).

    python -m manage portfolios list --account acme [--json]
    python -m manage portfolios create --account acme --name Bavaria [--plant 7 --plant 9]
    python -m manage portfolios rename --account acme <portfolio id> --name "Upper Bavaria"
    python -m manage portfolios add --account acme <portfolio id> --plant 12 [--plant 13]
    python -m manage portfolios remove --account acme <portfolio id> --plant 12
    python -m manage portfolios plants --account acme <portfolio id>
    python -m manage portfolios delete --account acme <portfolio id>

It acts as the account's operator (every scope, no restriction). A plant added to a portfolio is
reached by the keys restricted to it, and by the accounts it is shared with, from the next request on.
"""

from __future__ import annotations

import argparse
import json

from manage.target import Target, use_tables
from powerfactor.access import accounts
from powerfactor.access.principal import DEFAULT_ACCOUNT, operator
from powerfactor.plants import logic as plants
from powerfactor.plants import portfolios


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="action", required=True)
    for action, text in (
        ("list", "the account's portfolios"),
        ("create", "create a portfolio"),
        ("rename", "rename a portfolio"),
        ("add", "add plants to a portfolio"),
        ("remove", "remove plants from a portfolio"),
        ("plants", "a portfolio's plants"),
        ("delete", "delete a portfolio (its plants stay)"),
    ):
        command = commands.add_parser(action, help=text)
        command.add_argument("--account", default=DEFAULT_ACCOUNT, help="the account (default: %(default)s)")
        command.add_argument("--json", action="store_true")
        if action not in ("list", "create"):
            command.add_argument("portfolio_id")
        if action in ("create", "rename"):
            command.add_argument("--name", required=True)
        if action in ("create", "add", "remove"):
            command.add_argument(
                "--plant",
                type=int,
                action="append",
                metavar="ID",
                required=action != "create",
                help="repeatable",
            )


def _show(portfolio: portfolios.Portfolio) -> dict[str, str]:
    return json.loads(portfolios.view(portfolio).model_dump_json())


def run(args: argparse.Namespace, target: Target) -> int:
    with use_tables(target):
        if args.account != DEFAULT_ACCOUNT:
            accounts.get_account(args.account)  # AccountNotFound
        who = operator(args.account)
        shown: object
        if args.action == "list":
            items, cursor = portfolios.list_portfolios(who, portfolios.MAX_PAGE_SIZE)
            found = list(items)
            while cursor:
                items, cursor = portfolios.list_portfolios(who, portfolios.MAX_PAGE_SIZE, cursor)
                found += items
            shown = [_show(p) for p in found]
        elif args.action == "create":
            shown = _show(portfolios.create_portfolio(who, args.name, args.plant))
        elif args.action == "rename":
            shown = _show(portfolios.rename_portfolio(who, args.portfolio_id, args.name))
        elif args.action == "add":
            shown = _show(portfolios.add_plants(who, args.portfolio_id, args.plant))
        elif args.action == "remove":
            for plant_id in args.plant:
                portfolios.remove_plant(who, args.portfolio_id, plant_id)
            shown = _show(portfolios.get_portfolio(who, args.portfolio_id))
        elif args.action == "plants":
            page = plants.list_plants(who, plants.MAX_PAGE_SIZE, portfolio=args.portfolio_id)
            found_plants = list(page.items)
            while page.next_cursor:
                page = plants.list_plants(
                    who, plants.MAX_PAGE_SIZE, page.next_cursor, portfolio=args.portfolio_id
                )
                found_plants += page.items
            shown = [{"id": p.id, "name": p.name} for p in found_plants]
        else:
            portfolios.delete_portfolio(who, args.portfolio_id)
            shown = {"deleted": args.portfolio_id}
    if args.json:
        print(json.dumps(shown))
    else:
        for row in shown if isinstance(shown, list) else [shown]:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    return 0
