"""`python -m manage`: operators' commands against the local stack or a deployed stack."""

from __future__ import annotations

import argparse
import sys

from pynamodb.exceptions import PynamoDBException

from manage import keys, plants, smoke
from manage.target import LOCAL_ENDPOINT, TargetError, deployed, local
from powerfactor.errors import PowerFactorError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m manage", description=__doc__)
    parser.add_argument("--stack", help="a deployed stack's name (default: the local stack)")
    parser.add_argument("--region", help="its AWS region (default: your AWS configuration's)")
    parser.add_argument("--endpoint", default=LOCAL_ENDPOINT, help="the local stack's DynamoDB (%(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)
    keys.add_arguments(commands.add_parser("keys", help="API keys: create, list, revoke"))
    plants.add_arguments(commands.add_parser("plants", help="plants: recount (for the plant cap)"))
    smoke.add_arguments(commands.add_parser("smoke", help="read-only checks of a deployment's API"))
    args = parser.parse_args(argv)
    if args.command == "smoke":  # over HTTP only: no tables to bind
        return smoke.run(args)
    try:
        target = deployed(args.stack, args.region) if args.stack else local(args.endpoint)
        return (keys if args.command == "keys" else plants).run(args, target)
    except (TargetError, PowerFactorError) as error:
        print(f"python -m manage: {error}", file=sys.stderr)
        return 2
    except PynamoDBException as error:
        where = f"stack {args.stack}" if args.stack else f"{args.endpoint} (is `make dev` running?)"
        print(f"python -m manage: DynamoDB of {where} failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
