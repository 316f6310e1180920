"""The local stack throttles as the template's stage settings say: 429 with Retry-After, in the
project's error shape, and it lets requests through again once the bucket refills."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from devstack.stack import Stack
from tests.support import in_process_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with in_process_stack(
        tmp_path_factory.mktemp("throttling"), ThrottlingRateLimit="1", ThrottlingBurstLimit="3"
    ) as running:
        yield running


def get(stack: Stack) -> tuple[int, dict[str, str], object]:
    request = urllib.request.Request(
        f"{stack.api_url}/api/solar-plant", headers={"Authorization": f"Bearer {stack.dev_key[0]}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_requests_beyond_the_stage_limit_get_429_then_pass_again(stack) -> None:
    replies = []
    for _ in range(100):  # at 1 request/s with a burst of 3, a 429 comes within a few requests
        replies.append(get(stack))
        if replies[-1][0] == 429:
            break
    statuses = [status for status, _, _ in replies]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {200} and len(statuses) >= 4, statuses
    _, headers, body = replies[-1]
    assert headers["Retry-After"] == "1"
    assert body["error"]["status"] == 429 and body["error"]["code"] == "throttled"
    assert stack.api.refused["THROTTLED"] >= 1
    deadline = time.monotonic() + 60
    while get(stack)[0] == 429:  # the bucket refills at the stage rate
        assert time.monotonic() < deadline, "still throttled after a minute at 1 request/s"
        time.sleep(float(headers["Retry-After"]))
