import pytest

from powerfactor.settings import ConfigurationError, Settings

BASE = {"PLANTS_TABLE": "plants", "DATAPOINTS_TABLE": "datapoints"}


def test_defaults_when_only_the_table_is_set() -> None:
    settings = Settings.from_env(BASE)
    assert settings.plants_table == "plants"
    assert settings.dynamodb_endpoint is None
    assert settings.sync_every_run == 1
    assert settings.sync_until_year == 10


def test_empty_endpoint_means_aws() -> None:
    assert Settings.from_env({**BASE, "DYNAMODB_ENDPOINT": " "}).dynamodb_endpoint is None
    assert (
        Settings.from_env({**BASE, "DYNAMODB_ENDPOINT": "http://127.0.0.1:8000"}).dynamodb_endpoint
        == "http://127.0.0.1:8000"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "PLANTS_TABLE is required"),
        ({**BASE, "SYNC_EVERY_RUN": "two"}, "SYNC_EVERY_RUN must be an integer"),
        ({**BASE, "SYNC_UNTIL_YEAR": "0"}, "SYNC_UNTIL_YEAR must be >= 1"),
    ],
)
def test_bad_configuration_is_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


def test_template_sets_every_variable_settings_read(template) -> None:
    env = template.raw["Globals"]["Function"]["Environment"]["Variables"]
    for name in (
        "PLANTS_TABLE",
        "DATAPOINTS_TABLE",
        "SYNC_QUEUE_URL",
        "SQS_ENDPOINT",
        "MONITORING_READ_TIMEOUT",
        "DYNAMODB_ENDPOINT",
        "MONITORING_SERVICE_URL",
        "SYNC_EVERY_RUN",
        "SYNC_UNTIL_YEAR",
    ):
        assert name in env
