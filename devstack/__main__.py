"""`python -m devstack` (what `make dev` runs): the whole system on this machine, in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from devstack.dynamodb import StartError
from devstack.monitoring import PROFILES
from devstack.stack import DEV_KEY_FILE, Stack, StackConfig
from devstack.template import ROOT

DEFAULT_DATA_DIR = ROOT / ".devstack" / "dynamodb"


def parse_args(argv: list[str]) -> StackConfig:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--dynamodb-port", type=int, default=8000)
    parser.add_argument("--monitoring-port", type=int, default=5000)
    parser.add_argument("--sqs-port", type=int, default=9324)
    parser.add_argument(
        "--schedule-interval",
        type=float,
        default=1200,
        help="seconds between runs of each schedule (default: %(default)s)",
    )
    parser.add_argument(
        "--monitoring-profile",
        choices=sorted(PROFILES),
        default="quiet",
        help="failure profile of the monitoring simulator (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where DynamoDB Local keeps its data (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="warm workers per function at most, where the template sets no ReservedConcurrentExecutions "
        "(default: two per core, 2 to 8)",
    )
    parser.add_argument("--in-memory", action="store_true", help="keep no data across restarts")
    parser.add_argument(
        "--dev-key-file",
        type=Path,
        default=DEV_KEY_FILE,
        help="where the development API key is kept (default: %(default)s)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a template parameter (repeatable)",
    )
    args = parser.parse_args(argv)
    parameters = dict(p.split("=", 1) for p in args.param)
    return StackConfig(
        api_port=args.api_port,
        dynamodb_port=args.dynamodb_port,
        monitoring_port=args.monitoring_port,
        monitoring_profile=args.monitoring_profile,
        sqs_port=args.sqs_port,
        schedule_interval=args.schedule_interval,
        data_dir=None if args.in_memory else args.data_dir,
        parameters=parameters,
        dev_key_file=args.dev_key_file,
        workers=args.workers,
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stack = Stack(config)
    try:
        stack.start()
    except StartError as error:
        print(f"make dev: cannot start: {error}", file=sys.stderr)
        return 1
    print(
        "PowerFactor local stack is up:",
        *stack.describe(),
        "Ctrl-C stops everything.",
        sep="\n  ",
        flush=True,
    )
    stop.wait()
    print("stopping...", flush=True)
    stack.stop()
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
