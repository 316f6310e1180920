"""`python -m manage plants recount`: set the count the plant cap (MaxPlants) is checked against.

Creates and deletes keep the count in the same transaction as the plant. Plants written before
that count existed, or straight into the table, are not in it: run this once after upgrading such
a stack, while nobody creates or deletes plants. The local stack does it at every start.
"""

from __future__ import annotations

import argparse

from manage.target import Target, use_tables
from powerfactor.plants import logic as plants


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="action", required=True)
    commands.add_parser("recount", help="count the plants and store the count")


def run(args: argparse.Namespace, target: Target) -> int:
    with use_tables(target):
        print(f"{plants.recount_plants()} plants on {target.description}.")
    return 0
