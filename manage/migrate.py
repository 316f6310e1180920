"""`python -m manage migrate`: move the data written before accounts existed into the default account.

    python -m manage --stack powerfactor --region eu-central-1 migrate --dry-run   # counts only
    python -m manage --stack powerfactor --region eu-central-1 migrate

Run it once right after deploying the version with accounts. Until it has run, today's keys
already work as keys of the default account and its plants answer by id, but the default
account's lists, searches and open alerts miss what is not migrated yet. In order:

1. the default account (`default`, "Default account", no plant limit of its own);
2. each key without an account gets the default account;
3. each plant without an account gets the default account and is counted in its plant count, in
   one transaction per plant (its name claim keeps its key: the default account's claims are
   today's, so names stay unique and taken exactly as before);
4. each open alert without an account gets its plant's (listed per account from then on).

Every step writes an item only on condition that it is not migrated yet, so the command is
idempotent and resumable: run it again after a failure or an interruption and it continues where
it stopped, with nothing counted twice, even while the API creates and deletes plants. It ends
by checking that the default account's plant count equals its plants in the index.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from manage.target import Target, use_tables
from powerfactor.access import accounts
from powerfactor.alerts import logic as alerts
from powerfactor.plants import logic as plants


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="count what would be migrated; write nothing")


def migrate(dry_run: bool = False, out: TextIO = sys.stdout) -> bool:
    """The migration on the tables the settings name; whether the default account's count is right."""
    if not dry_run:
        accounts.ensure_default_account()
    for what, step in (
        ("keys", accounts.adopt_legacy_keys),
        ("plants", plants.adopt_legacy_plants),
        ("open alerts", alerts.adopt_legacy_alerts),
    ):
        found, adopted = step(dry_run)
        done = "to migrate" if dry_run else f"found, {adopted} migrated now"
        print(f"{what:<12} {found} without an account {done}", file=out, flush=True)
    counted, indexed = plants.account_plants_counted(accounts.DEFAULT_ACCOUNT)
    print(f"default account: {counted} plants counted, {indexed} in its index", file=out)
    return dry_run or counted == indexed


def run(args: argparse.Namespace, target: Target) -> int:
    print(f"Migrating {target.description} to accounts{' (dry run)' if args.dry_run else ''}.")
    with use_tables(target):
        consistent = migrate(args.dry_run)
    if not consistent:
        print(
            "python -m manage migrate: the default account's count differs from its plants (plants written "
            "straight into the table?): run `python -m manage plants recount --account default` while "
            "nobody creates or deletes plants",
            file=sys.stderr,
        )
        return 1
    return 0
