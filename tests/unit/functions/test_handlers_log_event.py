"""No handler logs its event (issue 23): API events carry the caller's bearer key and bodies, and
Powertools logs a whole event when `POWERTOOLS_LOGGER_LOG_EVENT` is true unless the decorator says
`log_event=False`. Every handler's Logger decorator says so explicitly."""

from __future__ import annotations

import ast

from devstack.template import ROOT


def _decorators() -> dict[str, list[ast.expr]]:
    """Each function directory's `lambda_handler` decorators."""
    found = {}
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        for node in ast.walk(ast.parse(app.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name == "lambda_handler":
                found[app.parent.name] = node.decorator_list
    return found


def test_every_handler_that_injects_the_lambda_context_sets_log_event_false() -> None:
    handlers = _decorators()
    assert len(handlers) == len(list((ROOT / "functions").glob("*/app.py")))
    injecting = 0
    for name, decorators in handlers.items():
        for decorator in decorators:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr == "inject_lambda_context":
                injecting += 1
                assert isinstance(decorator, ast.Call), f"{name}: without log_event=False"
                keywords = {k.arg: k.value for k in decorator.keywords}
                assert "log_event" in keywords, f"{name}: log_event not set"
                value = keywords["log_event"]
                assert isinstance(value, ast.Constant) and value.value is False, name
    assert injecting >= 6  # every function but the dashboard, which logs nothing
