"""What the benchmarks share: the local services they run against, tables of figures, statistics."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
REGION = "us-east-1"
HOURLY_TABLE = "BenchHourlyRows"  # the original's layout: one item per plant-hour
# The code `make bench` runs beside today's by default (`--against`): the last commit before the
# layer was grouped by capability (issue 22), the flat layout the regrouping must not slow down.
BEFORE = "3408b30"


def owner() -> Any:
    """The principal the benchmarks create and read plants as: a read + write key of the default
    account (imported here, not at the top: a baseline's processes import their own layer)."""
    from powerfactor.access.principal import DEFAULT_ACCOUNT, Principal

    return Principal(DEFAULT_ACCOUNT, "benchkey0000", "bench", frozenset({"read", "write"}))


def _accounts() -> bool:
    """Whether the code running has accounts (plants' calls take a principal since issue 24)."""
    return importlib.util.find_spec("powerfactor.access.principal") is not None


def new_plant(plants: ModuleType, name: str, **fields: Any) -> Any:
    """`plants.create_plant` as the code running takes it: as `owner()` once plants belong to
    accounts, without a principal before (a baseline's code)."""
    if _accounts():
        return plants.create_plant(owner(), name, **fields)
    return plants.create_plant(name, **fields)


def plant_of(plants: ModuleType, plant_id: int) -> Any:
    """`plants.get_plant`, as `new_plant` calls `create_plant`."""
    return plants.get_plant(owner(), plant_id) if _accounts() else plants.get_plant(plant_id)


_out: TextIO = sys.stdout  # where the figures go (see quiet_subprocesses)
_record: list[TextIO] = []  # and a copy: the run's dated file under bench/results/ (record_to)


def say(text: str) -> None:
    print(text, file=_out, flush=True)
    for copy in _record:
        print(text, file=copy, flush=True)


@contextmanager
def record_to(path: Path) -> Iterator[None]:
    """While the block runs, every line `say` prints is also written to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as copy:
        _record.append(copy)
        try:
            yield
        finally:
            _record.remove(copy)


def row(*cells: object) -> None:
    say("| " + " | ".join(str(c) for c in cells) + " |")


def table(title: str, *columns: str) -> None:
    say(f"\n### {title}\n")
    row(*columns)
    row(*["---"] * len(columns))


@contextmanager
def quiet_subprocesses() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null (the local stack's workers inherit it and log every
    invocation there) while the figures still reach the original standard output."""
    global _out
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    _out = open(saved, "w", closefd=False)  # noqa: SIM115 - restored below
    try:
        yield
    finally:
        _out.flush()
        os.dup2(saved, 1)
        os.close(saved)
        _out = sys.stdout


def median_p95(samples: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile (interpolated between the closest samples)."""
    if len(samples) == 1:
        return samples[0], samples[0]
    return statistics.median(samples), statistics.quantiles(samples, n=20, method="inclusive")[18]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"


@dataclass
class Services:
    """DynamoDB Local with the template's tables, the monitoring simulator, and the environment
    the functions would get from the template when pointed at them."""

    endpoint: str
    monitoring_url: str
    env: dict[str, dict[str, str]]
    dynamodb_pid: int

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )

    def child_env(self, function: str = "SyncWorkerFunction", **extra: str) -> dict[str, str]:
        """A child process's environment: the function's variables, warnings only in the log."""
        return {
            **os.environ,
            **self.env[function],
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONPATH": f"{ROOT / 'layers/powerfactor'}:{ROOT}",
            **extra,
        }


@contextmanager
def local_services() -> Iterator[Services]:
    """Start DynamoDB Local (AWS's engine, never the moto fallback) and the simulator."""
    from devstack.dynamodb import free_port, start_dynamodb
    from devstack.monitoring import MonitoringSimulator
    from devstack.stack import dynamodb_client, function_environment, table_names
    from devstack.tables import ensure_tables
    from devstack.template import load_template

    template = load_template()
    db = start_dynamodb(free_port(), data_dir=None, allow_moto=False)
    simulator = MonitoringSimulator(port=0)
    simulator.start()
    try:
        ensure_tables(dynamodb_client(db.endpoint), template, table_names(template))
        env = function_environment(
            template, {"DynamoDbEndpoint": db.endpoint, "MonitoringServiceUrl": simulator.url}
        )
        services = Services(db.endpoint, simulator.url, env, db.process.pid)
        services.client().create_table(
            TableName=HOURLY_TABLE,
            AttributeDefinitions=[
                {"AttributeName": "plant_id", "AttributeType": "N"},
                {"AttributeName": "hour", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "plant_id", "KeyType": "HASH"},
                {"AttributeName": "hour", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield services
    finally:
        simulator.stop()
        db.stop()


def proc_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, all its threads, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hourly_row(plant_id: int, hour: Any, values: Sequence[float]) -> dict[str, Any]:
    """One hour as the original stored it (a row per plant-hour), as a DynamoDB item."""
    ee, ei, oe, oi = values
    return {
        "plant_id": {"N": str(plant_id)},
        "hour": {"S": f"{hour:%Y-%m-%dT%H}"},
        "ee": {"N": repr(ee)},
        "ei": {"N": repr(ei)},
        "oe": {"N": repr(oe)},
        "oi": {"N": repr(oi)},
    }


def short_rev(rev: str) -> str:
    """A commit's short hash (`main` -> `6a6d69e`), as the tables label a reference."""
    return subprocess.run(
        ["git", "rev-parse", "--short", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip


@contextmanager
def code_at(rev: str) -> Iterator[Path]:
    """The whole tree of commit `rev` (git archive) with today's bench/ and node_modules, so that
    the same measurements run on that code; removed after the block."""
    tree = Path(tempfile.mkdtemp(prefix=f"bench-{rev}-"))
    try:
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
        shutil.rmtree(tree / "bench", ignore_errors=True)
        skip = shutil.ignore_patterns("__pycache__", "results")
        shutil.copytree(ROOT / "bench", tree / "bench", ignore=skip)
        (tree / "node_modules").symlink_to(ROOT / "node_modules")
        yield tree
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def layer_module(name: str, *older: str) -> ModuleType:
    """The layer's module `name`, or the first of its `older` names that the code running imports
    (the layer was flat before issue 22: `powerfactor.settings` for `powerfactor.runtime.settings`)."""
    for candidate in (name, *older):
        try:
            return importlib.import_module(candidate)
        except ModuleNotFoundError as missing:
            if missing.name is None or not candidate.startswith(missing.name):
                raise
    raise ModuleNotFoundError(f"none of {name}, {', '.join(older)}")
