"""`python -m manage`: operators' commands against the local stack or a deployed stack."""

from __future__ import annotations

import argparse
import sys

from pynamodb.exceptions import PynamoDBException

from manage import accounts, datapoints, grants, keys, migrate, notifications, plants, portfolios, smoke
from manage.target import LOCAL_API, LOCAL_ENDPOINT, TargetError, deployed, local
from powerfactor.runtime.errors import PowerFactorError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m manage", description=__doc__)
    # where: before or after the command (`--stack X keys list` or `keys --stack X list`)
    where = argparse.ArgumentParser(add_help=False)
    for options, defaults in (
        (parser, (None, None, LOCAL_ENDPOINT, LOCAL_API)),
        (where, (argparse.SUPPRESS,) * 4),
    ):
        stack, region, endpoint, api = defaults
        options.add_argument("--stack", default=stack, help="a deployed stack's name (default: local)")
        options.add_argument("--region", default=region, help="its AWS region (default: AWS config's)")
        options.add_argument("--endpoint", default=endpoint, help=f"the local DynamoDB ({LOCAL_ENDPOINT})")
        options.add_argument(
            "--api", default=api, help=f"the local API, whose key cache a revocation flushes ({LOCAL_API})"
        )
    commands = parser.add_subparsers(dest="command", required=True)
    accounts.add_arguments(
        commands.add_parser("accounts", parents=[where], help="accounts: create, list, change")
    )
    keys.add_arguments(commands.add_parser("keys", parents=[where], help="API keys: create, list, revoke"))
    portfolios.add_arguments(
        commands.add_parser("portfolios", parents=[where], help="portfolios: list, create, change, delete")
    )
    grants.add_arguments(
        commands.add_parser(
            "grants", parents=[where], help="sharing with other accounts: create, list, revoke"
        )
    )
    migrate.add_arguments(
        commands.add_parser(
            "migrate", parents=[where], help="move data from before accounts to the default one"
        )
    )
    plants.add_arguments(commands.add_parser("plants", parents=[where], help="plants: recount (for the cap)"))
    notifications.add_arguments(
        commands.add_parser("notifications", parents=[where], help="an account's own webhook and mail")
    )
    smoke.add_arguments(commands.add_parser("smoke", parents=[where], help="read-only checks of an API"))
    datapoints.add_arguments(commands.add_parser("datapoints", parents=[where], help="datapoints: retention"))
    args = parser.parse_args(argv)
    if args.command == "smoke":  # over HTTP only: no tables to bind
        return smoke.run(args)
    try:
        target = deployed(args.stack, args.region) if args.stack else local(args.endpoint, args.api)
        command = {
            "accounts": accounts,
            "keys": keys,
            "portfolios": portfolios,
            "grants": grants,
            "migrate": migrate,
            "plants": plants,
            "datapoints": datapoints,
            "notifications": notifications,
        }
        return command[args.command].run(args, target)
    except (TargetError, PowerFactorError) as error:
        print(f"python -m manage: {error}", file=sys.stderr)
        return 2
    except PynamoDBException as error:
        place = f"stack {args.stack}" if args.stack else f"{args.endpoint} (is `make dev` running?)"
        print(f"python -m manage: DynamoDB of {place} failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
