"""`python -m manage notifications`: an account's own webhook and e-mail recipients.

    python -m manage notifications show acme [--json]
    python -m manage notifications set-webhook acme --url https://hooks.acme.example/pf --generate-secret
    python -m manage notifications set-webhook acme --url https://... < secret.txt   # 32+ characters
    python -m manage notifications clear-webhook acme
    python -m manage notifications set-email acme ops@acme.example alerts@acme.example   # none: remove all

The secret is read from standard input (never a command-line argument, which shells keep and
`ps` shows) or generated and printed once; it is never shown again. On a deployed stack
`set-email` subscribes each new recipient to the stack's AccountAlertTopic with a filter policy on
the account (AWS mails each a confirmation link) and unsubscribes those removed; the local stack
has no SNS and only keeps the list. Every change is an entry of the account's audit log.
"""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import string
import sys

from manage.target import Target, use_tables
from powerfactor.access import notifications
from powerfactor.runtime.errors import PowerFactorError

_ALPHABET = string.ascii_letters + string.digits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="action", required=True)
    show = commands.add_parser("show", help="an account's webhook (never its secret) and recipients")
    show.add_argument("account_id")
    show.add_argument("--json", action="store_true")
    hook = commands.add_parser("set-webhook", help="give an account its own webhook (secret on stdin)")
    hook.add_argument("account_id")
    hook.add_argument("--url", required=True, help="https:// (http:// too on the local stack)")
    hook.add_argument(
        "--generate-secret", action="store_true", help="make a 48-character secret, printed once"
    )
    clear = commands.add_parser("clear-webhook", help="remove an account's own webhook")
    clear.add_argument("account_id")
    mail = commands.add_parser("set-email", help="an account's alert mail recipients (none: remove all)")
    mail.add_argument("account_id")
    mail.add_argument("emails", nargs="*")


def _secret(args: argparse.Namespace) -> str:
    if args.generate_secret:
        return "".join(secrets.choice(_ALPHABET) for _ in range(48))
    if sys.stdin.isatty():
        return getpass.getpass("the webhook's signing secret (32+ characters): ")
    return sys.stdin.readline().strip()


def _subscriptions(
    target: Target, account_id: str, wanted: tuple[str, ...], had: dict[str, str]
) -> dict[str, str]:
    """Subscribe the new recipients to the stack's AccountAlertTopic (filtered on the account),
    unsubscribe the removed ones; the subscriptions now, by recipient."""
    topic = target.environment.get("ACCOUNT_ALERT_TOPIC_ARN")
    if not topic:  # the local stack: no SNS
        return {}
    import boto3  # only this path needs AWS

    sns = boto3.client("sns", region_name=target.environment.get("AWS_REGION"))
    kept = {email: arn for email, arn in had.items() if email in wanted}
    for email, arn in had.items():
        if email not in wanted and arn.startswith("arn:"):
            sns.unsubscribe(SubscriptionArn=arn)
    policy = json.dumps({"account_id": [account_id]})
    for email in wanted:
        if email not in kept:
            kept[email] = sns.subscribe(
                TopicArn=topic,
                Protocol="email",
                Endpoint=email,
                Attributes={"FilterPolicyScope": "MessageBody", "FilterPolicy": policy},
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
    return kept


def run(args: argparse.Namespace, target: Target) -> int:
    local = target.local_api is not None
    with use_tables(target):
        if args.action == "show":
            shown = notifications.view(notifications.get(args.account_id))
            if args.json:
                print(json.dumps(shown))
            else:
                for name, value in shown.items():
                    print(f"{name}: {value if value not in (None, []) else '-'}")
        elif args.action == "set-webhook":
            secret = _secret(args)
            notifications.set_webhook(args.account_id, args.url, secret, allow_http=local)
            if args.generate_secret:
                print(f"Webhook secret (shown once; verify deliveries with it): {secret}")
            print(f"Account {args.account_id}'s events now also go to {args.url}, signed.")
        elif args.action == "clear-webhook":
            notifications.clear_webhook(args.account_id)
            print(f"Account {args.account_id} has no webhook of its own now.")
        else:
            wanted = notifications.checked_emails(args.emails)
            had = notifications.get(args.account_id).subscriptions
            try:
                subscriptions = _subscriptions(target, args.account_id, wanted, had)
            except Exception as error:  # botocore's errors: credentials, the topic
                raise PowerFactorError(f"SNS refused the subscriptions: {error}") from None
            notifications.set_emails(args.account_id, wanted, subscriptions)
            pending = " (each confirms the mail AWS sends)" if subscriptions else ""
            print(f"Account {args.account_id}'s alerts go to {', '.join(wanted) or 'nobody'}{pending}.")
    return 0
