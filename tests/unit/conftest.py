"""Unit tests: moto's mock_aws, and no network at all."""

from __future__ import annotations

from collections.abc import Callable, Iterator

# The X-Ray SDK opens (but never uses, with tracing disabled) a UDP socket when first imported;
# import it before sockets are blocked.
import aws_xray_sdk.core  # noqa: F401
import boto3
import pytest
from moto import mock_aws
from pytest_socket import disable_socket, enable_socket

from devstack.stack import table_names
from devstack.tables import ensure_tables
from devstack.template import Template


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@pytest.fixture
def aws(template: Template, use_function_env: Callable[..., None]) -> Iterator[None]:
    """A moto account holding the template's tables, and this process set up as a function."""
    use_function_env("PlantsApiFunction")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        ensure_tables(client, template, table_names(template))
        yield
