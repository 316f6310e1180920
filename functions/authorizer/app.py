"""API key authorizer (TOKEN type): API Gateway calls it with the `Authorization` header.

A good key gets a policy for every route of the stage that denies the methods of the scopes it
lacks (read: GET, HEAD; write: POST, PUT, PATCH, DELETE) and allows every other method: those
its scopes open, and those no scope lists (OPTIONS, ...), which no route has, so that they reach
the API's 405 with `Allow` instead of a misleading 403 (an explicit Deny wins over the Allow in
IAM's evaluation). API Gateway caches the answer per key for AuthorizerCacheTtl seconds and
reuses it for every route, so the policy is the key's whole answer. Any other key gets
"Unauthorized" (401). The key's id, name, account, scopes, plant restriction and expiry travel to
the API functions in the context (access/keys.py `authorizer_context`); each rebuilds the
request's principal from it and checks the expiry itself, since the answer outlives it in the cache.
The answer's `usageIdentifierKey` names the key's API Gateway API key (access/keys.py
`usage_identifier`), whose tier's usage plan throttles the key (`ApiKeySourceType: AUTHORIZER`).

Kept lean on purpose: it runs before every uncached request, and its cold start is mostly imports
(bench/cold.py), so it loads no Tracer, no event handler, no pydantic and none of Powertools'
event data classes (the event is two strings, the answer one policy statement). The secret and
its hash are never logged.
"""

from __future__ import annotations

import gc

gc.disable()  # no collections while the imports below run (powerfactor/runtime/gc_policy.py)

from typing import Any

from aws_lambda_powertools import Logger

from powerfactor.access import keys as apikeys
from powerfactor.runtime import gc_policy
from powerfactor.runtime.errors import InvalidApiKey

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        key = apikeys.authenticate(event.get("authorizationToken"))
        methods = apikeys.allowed_methods(key.scopes)
        if not methods:
            raise InvalidApiKey(f"key {key.key_id} has no scope this API knows")
    except InvalidApiKey as error:
        logger.info("API key refused", extra={"reason": error.reason})
        raise Exception("Unauthorized") from None  # the exact message API Gateway turns into 401
    answer = apikeys.authorizer_context(key)
    logger.info("API key accepted", extra=answer)
    method_arn = event["methodArn"]
    result = policy(key.key_id, method_arn, apikeys.denied_methods(key.scopes), answer)
    api_id = method_arn.split(":", 5)[-1].split("/", 1)[0]
    result["usageIdentifierKey"] = apikeys.usage_identifier(api_id, key.key_id)
    return result


def policy(principal: str, method_arn: str, denied: list[str], context: dict[str, str]) -> dict[str, Any]:
    """The authorizer's answer: `execute-api:Invoke` on every resource of the stage that
    `method_arn` (arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/<method>/<path>)
    was called on, denied for the `denied` methods and allowed for all others; nothing on
    another stage or API."""
    api, stage = method_arn.split("/", 2)[:2]
    statements: list[dict[str, Any]] = [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [f"{api}/{stage}/*/*"]}
    ]
    if denied:
        statements.append(
            {
                "Action": "execute-api:Invoke",
                "Effect": "Deny",
                "Resource": [f"{api}/{stage}/{method}/*" for method in denied],
            }
        )
    return {
        "principalId": principal,
        "policyDocument": {"Version": "2012-10-17", "Statement": statements},
        "context": context,
    }


gc_policy.imports_done()
