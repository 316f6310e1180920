"""X-Ray tracing of the handlers, with the X-Ray SDK loaded only when it is wanted.

Powertools' `Tracer()` imports the X-Ray SDK even when tracing is disabled (it makes the SDK its
provider first, then disables it; with tracing on it also patches botocore and requests): a
measurable part of an API function's import and first response (bench/README.md, "Measured").
Lambda's own active tracing (`Tracing:
Active`) needs none of it: the trace keeps API Gateway's segment and Lambda's (the function's
Initialization, Invocation and Overhead). What the SDK adds is the handler's subsegment and one subsegment per
DynamoDB / SQS / HTTP call, so it is a deploy-time choice (the template's `EnableXRaySdk`, the
`POWERFACTOR_XRAY_SDK` variable), off by default.

`tracer()` gives Powertools' Tracer when the SDK is on (and POWERTOOLS_TRACE_DISABLED does not
turn it off), else a stand-in whose decorators return the function unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

_TRUE = {"1", "true", "yes", "on", "y", "t"}


def _flag(name: str) -> bool:
    return os.getenv(name, "").strip().lower() in _TRUE


def sdk_wanted() -> bool:
    """Whether the X-Ray SDK (Powertools' Tracer) should be loaded in this process."""
    return _flag("POWERFACTOR_XRAY_SDK") and not _flag("POWERTOOLS_TRACE_DISABLED")


class NoTracer:
    """The parts of Powertools' Tracer the handlers use, doing nothing."""

    disabled = True

    @staticmethod
    def _passthrough(function: Callable[..., Any] | None) -> Any:
        return function if function is not None else (lambda f: f)

    def capture_lambda_handler(self, lambda_handler: Callable[..., Any] | None = None, **_: Any) -> Any:
        return self._passthrough(lambda_handler)

    def capture_method(self, method: Callable[..., Any] | None = None, **_: Any) -> Any:
        return self._passthrough(method)

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        pass


def tracer() -> Any:
    """Powertools' Tracer if the X-Ray SDK is wanted (see the module's docstring), else NoTracer."""
    if sdk_wanted():
        from aws_lambda_powertools import Tracer

        return Tracer()
    return NoTracer()
