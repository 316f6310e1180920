import pytest

from powerfactor.runtime.settings import TIERS, ConfigurationError, Settings, Tier

BASE = {"PLANTS_TABLE": "plants", "DATAPOINTS_TABLE": "datapoints"}


def test_defaults_when_only_the_table_is_set() -> None:
    settings = Settings.from_env(BASE)
    assert settings.plants_table == "plants"
    assert settings.dynamodb_endpoint is None
    assert settings.sync_every_run == 1
    assert settings.sync_until_year == 10


def test_numbers_are_parsed_from_their_stripped_text() -> None:
    settings = Settings.from_env({**BASE, "MAX_PLANTS": " 7 ", "ALERT_RATIO_THRESHOLD": "0.5"})
    assert (settings.max_plants, settings.alert_ratio_threshold) == (7, 0.5)
    assert settings == Settings.from_env({**BASE, "MAX_PLANTS": "7", "ALERT_RATIO_THRESHOLD": "0.5"})


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
        ({**BASE, "SYNC_EVERY_RUN": "two"}, "SYNC_EVERY_RUN: Input should be a valid integer.*'two'"),
        ({**BASE, "SYNC_UNTIL_YEAR": "0"}, "SYNC_UNTIL_YEAR: Input should be greater than or equal to 1"),
        ({**BASE, "MAX_PLANTS": "1e3"}, "MAX_PLANTS: Input should be a valid integer"),
        ({"PLANTS_TABLE": "p"}, "DATAPOINTS_TABLE is required"),
        ({**BASE, "ALERT_RATIO_THRESHOLD": "0"}, "ALERT_RATIO_THRESHOLD: Input should be greater than 0,"),
        ({**BASE, "ALERT_RATIO_THRESHOLD": "nan"}, "ALERT_RATIO_THRESHOLD: Input should be a valid number"),
        ({**BASE, "ALERT_MAX_MISSING_DAYS": "-1"}, "ALERT_MAX_MISSING_DAYS: .* greater than or equal to 0"),
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
        "MONITORING_MAX_RESPONSE_BYTES",
        "DYNAMODB_ENDPOINT",
        "MONITORING_SERVICE_URL",
        "SYNC_EVERY_RUN",
        "SYNC_UNTIL_YEAR",
    ):
        assert name in env


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"SYNC_EVERY_RUN": "0", "MONITORING_READ_TIMEOUT": "soon"})
    for name in ("PLANTS_TABLE", "DATAPOINTS_TABLE", "SYNC_EVERY_RUN", "MONITORING_READ_TIMEOUT"):
        assert name in str(refused.value)


def test_region_comes_from_lambdas_variables() -> None:
    assert Settings.from_env({**BASE, "AWS_DEFAULT_REGION": "eu-west-1"}).region == "eu-west-1"
    assert (
        Settings.from_env({**BASE, "AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "x"}).region
        == "eu-central-1"
    )


def test_tracer_does_not_capture_response_bodies(template) -> None:
    """Report pages reach ~1.6 MB; X-Ray drops a trace over 64 KB, so no function records them."""
    from devstack.stack import function_environment

    for name, env in function_environment(template, {}).items():
        assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false", name


def test_the_monitoring_url_has_no_default_and_its_absence_is_named() -> None:
    settings = Settings.from_env(BASE)
    assert settings.monitoring_service_url is None
    with pytest.raises(ConfigurationError, match="MONITORING_SERVICE_URL is required"):
        settings.monitoring_url  # noqa: B018 - the property raises
    given = Settings.from_env({**BASE, "MONITORING_SERVICE_URL": " https://monitoring.example.com/ "})
    assert given.monitoring_url == "https://monitoring.example.com/"


def test_tiers_come_from_their_variables_smallest_first() -> None:
    settings = Settings.from_env(
        {**BASE, "TIER_STANDARD_RATE": "0.5", "TIER_STANDARD_BURST": "2", "TIER_STANDARD_QUOTA": "5"}
    )
    assert list(settings.tiers) == ["standard", "large"]
    assert settings.tier("standard") == Tier("standard", 0.5, 2, 5)
    assert settings.tier("large") == Tier("large", 50.0, 100, 100_000)  # the template's defaults
    assert settings.tier(None) == settings.tier("gold") == settings.tier("standard")  # no tier, or unknown


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TIER_STANDARD_RATE": "0"}, "TIER_STANDARD_RATE: Input should be greater than 0"),
        ({"TIER_LARGE_BURST": "0"}, "TIER_LARGE_BURST: Input should be greater than or equal to 1"),
        ({"TIER_LARGE_QUOTA": "many"}, "TIER_LARGE_QUOTA: Input should be a valid integer"),
    ],
)
def test_bad_tiers_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**BASE, **env})


def test_the_template_passes_each_tiers_parameters(template) -> None:
    env = template.raw["Globals"]["Function"]["Environment"]["Variables"]
    for tier in TIERS:
        for what, parameter in (("RATE", "RateLimit"), ("BURST", "BurstLimit"), ("QUOTA", "DailyQuota")):
            assert env[f"TIER_{tier.upper()}_{what}"] == {"Ref": f"{tier.capitalize()}Tier{parameter}"}
    defaults = Settings.from_env(BASE).tiers
    parameters = template.parameter_defaults()
    for tier in TIERS:
        name = tier.capitalize() + "Tier"
        assert (float(parameters[f"{name}RateLimit"]), int(parameters[f"{name}BurstLimit"])) == (
            defaults[tier].rate, defaults[tier].burst,
        )  # fmt: skip
        assert int(parameters[f"{name}DailyQuota"]) == defaults[tier].quota
