"""The local stack listens on 127.0.0.1 only (issue 23): every socket it listens on, DynamoDB
Local's included, is bound to the loopback address, as the kernel lists them (/proc/net)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.dynamodb import free_port, start_dynamodb
from devstack.stack import Stack
from tests.support import in_process_stack

pytestmark = pytest.mark.e2e

LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def listening(pids: set[int] | None = None) -> dict[int, set[str]]:
    """Every TCP port listened on, with the addresses (hex, as /proc/net has them) it is bound to;
    only the sockets of these processes if given."""
    inodes = None
    if pids is not None:
        inodes = set()
        for pid in pids:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd) if fd.is_symlink() else ""
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports: dict[int, set[str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].split(":")
            if fields[3] == "0A" and (inodes is None or fields[9] in inodes):  # LISTEN
                ports.setdefault(int(port, 16), set()).add(address)
    return ports


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with in_process_stack(tmp_path_factory.mktemp("loopback")) as running:
        yield running


def test_dynamodb_local_listens_on_the_loopback_address_only() -> None:
    port = free_port()
    db = start_dynamodb(port, data_dir=None, allow_moto=False)
    try:
        assert "DynamoDB Local" in db.engine
        assert listening({db.process.pid})[port] <= LOOPBACK
    finally:
        db.stop()


def test_every_port_of_the_local_stack_is_on_the_loopback_address(stack: Stack) -> None:
    assert stack.dynamodb is not None and stack.monitoring is not None and stack.eventbus is not None
    config = stack.config
    ports = {config.api_port, config.dynamodb_port, config.monitoring_port, config.sqs_port}
    ports.add(int(stack.eventbus.url.rsplit(":", 1)[1].split("/")[0]))
    ours = listening({os.getpid(), stack.dynamodb.process.pid})
    assert ports <= set(ours)
    for port, addresses in ours.items():
        assert addresses <= LOOPBACK, (port, addresses)
