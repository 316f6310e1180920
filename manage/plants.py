"""`python -m manage plants recount [--account ID]`: set the count a plant cap is checked against.

Creates and deletes keep the counts (the deployment's, for MaxPlants; each account's, for its own
limit) in the same transaction as the plant. Plants written before a count existed, or straight
into the table, are not in it: run this once after upgrading such a stack, while nobody creates
or deletes plants (`--account`: that account's count). The local stack recounts the deployment's
at every start.
"""

from __future__ import annotations

import argparse

from manage.target import Target, use_tables
from powerfactor.plants import logic as plants


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="action", required=True)
    recount = commands.add_parser("recount", help="count the plants and store the count")
    recount.add_argument("--account", help="that account's count (default: the deployment's)")


def run(args: argparse.Namespace, target: Target) -> int:
    with use_tables(target):
        if args.account:
            counted = plants.recount_account(args.account)
            print(f"{counted} plants of account {args.account} on {target.description}.")
        else:
            print(f"{plants.recount_plants()} plants on {target.description}.")
    return 0
