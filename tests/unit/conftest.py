"""Unit tests: moto's mock_aws, and no network at all."""

from __future__ import annotations

from collections.abc import Callable, Iterator

# The X-Ray SDK opens (but never uses, with tracing disabled) a UDP socket when first imported;
# import it before sockets are blocked.
import aws_xray_sdk.core  # noqa: F401
import boto3
import pytest
from moto import mock_aws
from pytest_socket import _remove_restrictions, disable_socket, socket_allow_hosts

from devstack.queues import ensure_queues
from devstack.stack import table_names
from devstack.tables import ensure_tables
from devstack.template import Template


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "loopback: may talk to servers it starts on 127.0.0.1")


@pytest.fixture(autouse=True)
def _no_network(request: pytest.FixtureRequest) -> Iterator[None]:
    """No network; a test marked `loopback` may reach 127.0.0.1 (an in-process simulator)."""
    if request.node.get_closest_marker("loopback"):
        socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    else:
        disable_socket(allow_unix_socket=True)
    yield
    _remove_restrictions()


@pytest.fixture
def aws(template: Template, use_function_env: Callable[..., None]) -> Iterator[dict[str, str]]:
    """A moto account holding the template's tables and queues, and this process set up as a
    function (any function: they share their environment). Yields the queue URLs."""
    with mock_aws():
        ensure_tables(boto3.client("dynamodb", region_name="us-east-1"), template, table_names(template))
        queue_urls = ensure_queues(boto3.client("sqs", region_name="us-east-1"), template)
        use_function_env("PlantsApiFunction", queue_urls=queue_urls)
        yield queue_urls
