"""Point pynamodb models at the tables and endpoint of the current settings (the one place Meta is set)."""

from __future__ import annotations

from collections.abc import Callable

from pynamodb.models import Model

from powerfactor.settings import Settings, get_settings

_bound: dict[type[Model], Settings] = {}


def bind(models: tuple[type[Model], ...], table: Callable[[Settings], str]) -> None:
    """Set each model's table, endpoint and region from the settings; cheap when unchanged."""
    settings = get_settings()
    for model in models:
        if _bound.get(model) is settings:
            continue
        model.Meta.table_name = table(settings)
        model.Meta.host = settings.dynamodb_endpoint
        model.Meta.region = settings.region
        model.Meta.connect_timeout_seconds = 2
        model.Meta.read_timeout_seconds = 5
        model._connection = None
        _bound[model] = settings
