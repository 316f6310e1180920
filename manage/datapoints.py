"""`python -m manage datapoints retention --years N`: rewrite every datapoint item's expiry.

Items carry the `expires_at` (DynamoDB TTL) of the horizon they were written under,
`SyncUntilYear`. After raising that parameter, run this with the new value before the old
horizon passes, or DynamoDB deletes data the new horizon keeps (and the sync will not fetch it
again). After lowering it, running this lets DynamoDB delete what falls outside sooner. It reads
every item's key (a Scan) and writes only the items whose expiry changes, one write unit each.
"""

from __future__ import annotations

import argparse
import sys

from manage.target import Target, use_tables
from powerfactor.datapoints import store as datapoints


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="action", required=True)
    retention = commands.add_parser("retention", help="set every item's expiry for a horizon of N years")
    retention.add_argument("--years", type=int, required=True, help="the stack's SyncUntilYear (1-50)")


def run(args: argparse.Namespace, target: Target) -> int:
    if not 1 <= args.years <= 50:
        print("python -m manage datapoints: --years must be 1-50 (SyncUntilYear's range)", file=sys.stderr)
        return 2
    with use_tables(target):
        seen, updated = datapoints.refresh_expiry(args.years)
    print(f"{seen} datapoint items on {target.description}; {updated} given a {args.years}-year expiry.")
    return 0
