"""powerfactor.tracing: the X-Ray SDK (Powertools' Tracer) only when the deployment asks for it."""

from __future__ import annotations

import pytest

from powerfactor.runtime import tracing


@pytest.mark.parametrize(
    ("sdk", "disabled", "wanted"),
    [
        (None, None, False),
        ("false", None, False),
        ("true", None, True),
        ("true", "true", False),
        ("1", "0", True),
    ],
)
def test_the_sdk_is_wanted_only_when_turned_on_and_not_disabled(monkeypatch, sdk, disabled, wanted) -> None:
    for name, value in (("POWERFACTOR_XRAY_SDK", sdk), ("POWERTOOLS_TRACE_DISABLED", disabled)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert tracing.sdk_wanted() is wanted


def test_without_the_sdk_the_decorators_leave_the_functions_as_they_are(monkeypatch) -> None:
    monkeypatch.delenv("POWERFACTOR_XRAY_SDK", raising=False)
    tracer = tracing.tracer()
    assert isinstance(tracer, tracing.NoTracer)

    def handler(event: dict, context: object) -> dict:
        return {"event": event}

    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_method(handler) is handler
    assert tracer.capture_method(capture_response=False)(handler) is handler
    tracer.put_annotation("k", "v")
    tracer.put_metadata("k", {"v": 1})


def test_with_the_sdk_it_is_powertools_tracer(monkeypatch) -> None:
    from aws_lambda_powertools import Tracer

    monkeypatch.setenv("POWERFACTOR_XRAY_SDK", "true")
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    assert isinstance(tracing.tracer(), Tracer)
