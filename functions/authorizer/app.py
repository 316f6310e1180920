"""API key authorizer (TOKEN type): API Gateway calls it with the `Authorization` header.

A good key gets a policy that allows, on every route of the stage, exactly the methods its
scopes open (read: GET, HEAD; write: POST, PUT, PATCH, DELETE), because API Gateway caches the
answer per key for AuthorizerCacheTtl seconds and reuses it for every route. Any other key gets
"Unauthorized" (401). The key's id, name, scopes and expiry travel to the API functions in the context.

Kept lean on purpose: it runs before every uncached request, so it loads no Tracer, no event
handler and no pydantic. The secret and its hash are never logged.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
    parse_api_gateway_arn,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from powerfactor import apikeys
from powerfactor.errors import InvalidApiKey

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = APIGatewayAuthorizerTokenEvent(event)
    try:
        key = apikeys.authenticate(request.authorization_token)
        methods = apikeys.allowed_methods(key.scopes)
        if not methods:
            raise InvalidApiKey(f"key {key.key_id} has no scope this API knows")
    except InvalidApiKey as error:
        logger.info("API key refused", extra={"reason": error.reason})
        raise Exception("Unauthorized") from None  # the exact message API Gateway turns into 401
    context = apikeys.authorizer_context(key)
    logger.info("API key accepted", extra=context)
    arn = parse_api_gateway_arn(request.method_arn)
    policy = APIGatewayAuthorizerResponse(
        key.key_id, arn.region, arn.aws_account_id, arn.api_id, arn.stage, context, partition=arn.partition
    )
    for method in methods:
        policy.allow_route(method, "*")
    return policy.asdict()
