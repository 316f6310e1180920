"""8. The local stack under concurrent clients: 32 clients, 800 mixed API requests.

The whole local stack runs in this process (`devstack.Stack`: API gateway, authorizer cache,
warm Lambda workers, DynamoDB Local, the moto SQS server). New plants are created over the API
and their backfills (one year: `SyncUntilYear` 1) allowed to finish; then a warm-up round, then
the measured round: 32 client threads in a separate process, each with a keep-alive connection,
send 800 requests mixed evenly (and shuffled) over list, get, rename, a 30-day day report and one
day of data. Figures: throughput, latency median and p95, how busy the machine's cores were
(from /proc/stat) and the invocations and workers per function. Then each route's DynamoDB calls,
counted in-process on pynamodb's `Connection.dispatch`.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    PY,
    ROOT,
    code_at,
    median_p95,
    ms,
    proc_cpu_seconds,
    quiet_subprocesses,
    row,
    short_rev,
    table,
)

CLIENTS = 32
REQUESTS = 800
WARMUP = 160
PLANTS = 16
REFERENCE_RPS = 52.0  # the figure for the code before issue 13 (one run of this mix)
TIMEOUT_S = 180


def _mix(plant_ids: list[int], total: int, seed: int) -> list[tuple[str, str, str | None, str]]:
    """(route, method + path, body) requests, evenly mixed and shuffled."""
    rng = random.Random(seed)
    day = datetime.now(UTC).date() - timedelta(days=40)
    requests = []
    for i in range(total):
        plant = rng.choice(plant_ids)
        kind = ("list", "get", "rename", "report 30 days", "data 1 day")[i % 5]
        if kind == "list":
            requests.append((kind, "GET", "/api/solar-plant?limit=50", None))
        elif kind == "get":
            requests.append((kind, "GET", f"/api/solar-plant/plant/{plant}", None))
        elif kind == "rename":
            body = json.dumps({"name": f"load {plant} {seed} {i}"})
            requests.append((kind, "PUT", f"/api/solar-plant/plant/{plant}", body))
        elif kind == "report 30 days":
            query = f"plant-id={plant}&from={day}&to={day + timedelta(days=29)}&granularity=day"
            requests.append((kind, "GET", f"/api/solar-plant/report?{query}", None))
        else:
            requests.append(
                (kind, "GET", f"/api/solar-plant/data?plant-id={plant}&from={day}&to={day}", None)
            )
    rng.shuffle(requests)
    return requests


# -- the clients (a child process: their CPU is not the gateway's) ----------------------------------


def clients(port: int, token: str, requests: list[list[Any]], threads: int) -> dict[str, Any]:
    import http.client

    results: list[tuple[str, int, float]] = []
    lock = threading.Lock()
    queue = list(enumerate(requests))

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while True:
            with lock:
                if not queue:
                    break
                _, (kind, method, path, body) = queue.pop()
            started = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                results.append((kind, response.status, elapsed))
        connection.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return {"seconds": time.perf_counter() - started, "results": results, "cpu": time.process_time()}


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _descendants(pid: int) -> list[int]:
    """Every live process below `pid` (from /proc/<pid>/task/<tid>/children)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tids = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as children:
                    kids = [int(c) for c in children.read().split()]
            except FileNotFoundError:
                continue
            found += kids
            pending += kids
    return found


def _cpu_by_process() -> dict[str, float]:
    """CPU-seconds used so far by this process (the gateway, the pollers, moto's SQS: threads) and
    by its descendants, grouped: the Lambda workers (Python), DynamoDB Local (Java), the rest."""
    groups = {"gateway": proc_cpu_seconds(os.getpid()), "workers": 0.0, "DynamoDB Local": 0.0, "other": 0.0}
    for pid in _descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ")
            cpu = proc_cpu_seconds(pid)
        except FileNotFoundError:
            continue
        if b"java" in command:
            groups["DynamoDB Local"] += cpu
        elif b"bench.load clients" in command:
            continue  # the clients report their own CPU
        elif b"python" in command:
            groups["workers"] += cpu
        else:
            groups["other"] += cpu
    return groups


def _round(port: int, token: str, requests: list[Any]) -> tuple[dict[str, Any], float, dict[str, float]]:
    """One round of requests from the clients' process: their answers, the machine's busy share,
    and the CPU-seconds each group of the stack's processes used meanwhile."""
    busy0, total0 = _cpu_times()
    cpu0 = _cpu_by_process()
    done = subprocess.run(
        [PY, "-m", "bench.load", "clients", str(port), token, str(CLIENTS)],
        input=json.dumps(requests), capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    cpu1 = _cpu_by_process()
    busy1, total1 = _cpu_times()
    out = json.loads(done.stdout)
    cpu = {group: cpu1[group] - cpu0.get(group, 0.0) for group in cpu1}
    cpu["clients"] = out["cpu"]
    return out, (busy1 - busy0) / max(1, total1 - total0), cpu


def _create_plants(port: int, token: str) -> list[int]:
    import urllib.request

    ids = []
    for i in range(PLANTS):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/solar-plant",
            data=json.dumps({"name": f"load plant {i} {time.time()}"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            ids.append(json.load(response)["id"])
    return ids


def measure(result_file: str, workers: int | None = None) -> None:
    """One load run against the stack of the code this process imports; the figures to a file."""
    from devstack.dynamodb import free_port
    from devstack.fleet import synced_since
    from devstack.stack import Stack, StackConfig, dynamodb_client

    parameters = {
        "SyncUntilYear": "1",
        "SyncEveryRun": "1",
        "LogLevel": "WARNING",
        "ThrottlingRateLimit": "10000",  # the stage's throttling is not what is measured here
        "ThrottlingBurstLimit": "5000",
        # nor each key's tier (its rate and daily quota); the count per request is measured
        "StandardTierRateLimit": "10000",
        "StandardTierBurstLimit": "5000",
        "StandardTierDailyQuota": "1000000000",
    }
    ports = {f"{name}_port": free_port() for name in ("api", "dynamodb", "monitoring", "sqs")}
    key_file = ROOT / ".aws-sam" / "bench-load-key"
    key_file.parent.mkdir(exist_ok=True)
    key_file.unlink(missing_ok=True)
    extra = {"workers": workers} if workers else {}  # the baseline's StackConfig has no `workers`
    config = StackConfig(
        **ports, parameters=parameters, schedule_interval=86_400, dev_key_file=key_file, **extra
    )
    stack = Stack(config)
    stderr = sys.stderr
    with quiet_subprocesses(), open(os.devnull, "w") as devnull:
        sys.stderr = devnull  # the gateway's line per request
        try:
            stack.start()
            assert stack.dev_key is not None and stack.runtime is not None and stack.dynamodb is not None
            token = stack.dev_key[0]
            started_at = datetime.now(UTC)
            ids = _create_plants(config.api_port, token)
            client = dynamodb_client(stack.dynamodb.endpoint)
            deadline = time.monotonic() + TIMEOUT_S
            while synced_since(client, ids, started_at) < len(ids):  # the backfills are done
                if time.monotonic() > deadline:
                    raise TimeoutError("backfills not done")
                time.sleep(0.5)
            backfill_s = (datetime.now(UTC) - started_at).total_seconds()
            _round(config.api_port, token, _mix(ids, WARMUP, 1))  # every worker started and warm
            stack.runtime.invocations.clear()
            stack.runtime.peak_concurrency.clear()
            out, busy, cpu = _round(config.api_port, token, _mix(ids, REQUESTS, 2))
            figures = {
                "out": out,
                "busy": busy,
                "cpu": cpu,
                "invocations": dict(stack.runtime.invocations),
                "peaks": dict(stack.runtime.peak_concurrency),
                "limits": getattr(stack.runtime, "limits", {}),
                "backfill_s": backfill_s,
                "calls": _dynamodb_calls(stack, ids[0], token),
            }
        finally:
            stack.stop()
            sys.stderr = stderr
    Path(result_file).write_text(json.dumps(figures))


def _measured(root: Path) -> dict[str, Any]:
    """`measure` in a child process running the code of `root`."""
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        subprocess.run(
            [PY, "-m", "bench.load", "measure", result.name], cwd=root, check=True,
            env={**os.environ, "PYTHONPATH": f"{root / 'layers/powerfactor'}:{root}"},
        )  # fmt: skip
        return json.loads(Path(result.name).read_text())


def run(against: Sequence[str] = ()) -> None:
    """The same load against the baseline's local stack, each `--against` commit's and today's,
    one after the other (each tree from `git archive`, with today's bench/)."""
    from bench.cold import BASELINE

    with code_at(BASELINE) as root:
        baseline = _measured(root)
    refs = {}
    for rev in against:
        with code_at(rev) as root:
            refs[short_rev(rev)] = _measured(root)
    now = _measured(ROOT)
    _report(now, baseline)
    for ref, figures in refs.items():
        _beside(now, ref, figures)


def _summary(figures: dict[str, Any]) -> dict[str, Any]:
    out = figures["out"]
    results = out["results"]
    p50, p95 = median_p95([r[2] for r in results])
    statuses: dict[int, int] = {}
    by_kind: dict[str, list[float]] = {}
    for kind, status, seconds in results:
        statuses[status] = statuses.get(status, 0) + 1
        by_kind.setdefault(kind, []).append(seconds)
    return {"rps": len(results) / out["seconds"], "seconds": out["seconds"], "p50": p50, "p95": p95,
            "statuses": statuses, "by_kind": by_kind}  # fmt: skip


def _report(now: dict[str, Any], baseline: dict[str, Any]) -> None:
    n, b = _summary(now), _summary(baseline)
    table(
        f"Local stack under load: {CLIENTS} clients, {REQUESTS} mixed requests (list, get, rename, "
        f"30-day day report, 1 day of data) on {PLANTS} plants after their 1-year backfills "
        f"({now['backfill_s']:.0f} s), warm workers; baseline = the code before issue 13, same run",
        "figure", "now", "baseline", "goal",
    )  # fmt: skip
    ratio = n["rps"] / b["rps"]
    row("throughput", f"{n['rps']:.1f} req/s ({n['seconds']:.1f} s)",
        f"{b['rps']:.1f} req/s ({b['seconds']:.1f} s); the issue's figure: {REFERENCE_RPS:.0f} req/s",
        f">= 1.25 x: **{ratio:.2f} x** ({n['rps'] / REFERENCE_RPS:.2f} x the issue's figure)")  # fmt: skip
    row("latency median / p95", f"{ms(n['p50'])} / {ms(n['p95'])}", f"{ms(b['p50'])} / {ms(b['p95'])}",
        f"p95 <= 3 x median: **{n['p95'] / n['p50']:.1f} x**")  # fmt: skip
    busy, was = now["busy"], baseline["busy"]
    row("cores busy (the whole machine, /proc/stat)", f"{busy * 100:.0f} %", f"{was * 100:.0f} %",
        f">= 95 %: {'met' if busy >= 0.95 else 'missed'}")  # fmt: skip
    row("CPU per request, by process (ms)", _cpu(now), _cpu(baseline), "less than the baseline")
    row("answers", _statuses(n["statuses"]), _statuses(b["statuses"]), "all 2xx")
    row(
        "median by route",
        ", ".join(f"{k} {ms(median_p95(v)[0])}" for k, v in sorted(n["by_kind"].items())),
        ", ".join(f"{k} {ms(median_p95(v)[0])}" for k, v in sorted(b["by_kind"].items())),
        "",
    )
    row("invocations (peak at once / most workers)", _workers(now), _workers(baseline), "")
    table(
        "DynamoDB calls per API request (in-process, pynamodb's dispatch counted)", "route", "now", "baseline"
    )
    for route, ops in now["calls"].items():
        row(route, _ops(ops), _ops(baseline["calls"].get(route, {})))


def _beside(now: dict[str, Any], ref: str, was: dict[str, Any]) -> None:
    n, b = _summary(now), _summary(was)
    table(f"Local stack under load beside {ref} (the same run, one after the other)", "figure", "now", ref,
          "now / " + ref)  # fmt: skip
    row("throughput", f"{n['rps']:.1f} req/s", f"{b['rps']:.1f} req/s", f"**{n['rps'] / b['rps']:.2f} x**")
    row("latency median", ms(n["p50"]), ms(b["p50"]), f"{n['p50'] / b['p50']:.2f} x")
    row("latency p95", ms(n["p95"]), ms(b["p95"]), f"{n['p95'] / b['p95']:.2f} x")
    cpu_now, cpu_was = (sum(f["cpu"].values()) / len(f["out"]["results"]) for f in (now, was))
    row("CPU per request (all processes)", ms(cpu_now), ms(cpu_was), f"{cpu_now / cpu_was:.2f} x")
    row("answers", _statuses(n["statuses"]), _statuses(b["statuses"]), "")
    for route, ops in now["calls"].items():
        row(f"DynamoDB calls: {route}", _ops(ops), _ops(was["calls"].get(route, {})), "")


def _cpu(figures: dict[str, Any]) -> str:
    cpu = figures.get("cpu")
    if not cpu:
        return "-"
    count = len(figures["out"]["results"])
    parts = ", ".join(f"{group} {seconds / count * 1000:.1f}" for group, seconds in cpu.items() if seconds)
    return f"**{sum(cpu.values()) / count * 1000:.1f}**: {parts}"


def _statuses(statuses: dict[Any, int]) -> str:
    return ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))


def _workers(figures: dict[str, Any]) -> str:
    peaks, limits = figures["peaks"], figures["limits"]
    return ", ".join(
        f"{f} {n} ({peaks.get(f, 0)}/{limits.get(f, '?')})" for f, n in sorted(figures["invocations"].items())
    )


def _ops(ops: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(ops.items())) or "none"


def _dynamodb_calls(stack: Any, plant_id: int, token: str) -> dict[str, dict[str, int]]:
    """Each route of the mix (and the authorizer) called once in this process, its DynamoDB calls
    counted."""
    from pynamodb.connection.base import Connection

    from bench.common import layer_module
    from bench.ingest import _count_dynamodb_calls
    from devstack.apigateway import build_event, match_route
    from devstack.authorizer import method_arn
    from devstack.lambdas import FakeContext, load_handler

    reset_settings = layer_module("powerfactor.runtime.settings", "powerfactor.settings").reset_settings

    template = stack.template
    functions = template.functions()
    env = stack.runtime.environment
    saved, dispatch = dict(os.environ), Connection.dispatch
    calls, _ = _count_dynamodb_calls()
    counted: dict[str, dict[str, int]] = {}
    try:
        os.environ.update(env["PlantsApiFunction"])
        os.environ.update(env["AuthorizerFunction"])
        reset_settings()
        authorizer = load_handler(functions["AuthorizerFunction"], template.layer_dirs())
        context = FakeContext("bench", 256, 10)
        calls.clear()
        policy = authorizer(
            {"type": "TOKEN", "authorizationToken": f"Bearer {token}",
             "methodArn": method_arn("Prod", "GET", "/api/solar-plant")}, context,
        )  # fmt: skip
        counted["authorizer (a cache miss)"] = dict(calls)
        auth = {"principalId": policy["principalId"], **policy.get("context", {})}
        day = datetime.now(UTC).date() - timedelta(days=40)
        for kind, method, path, body in [
            ("list", "GET", "/api/solar-plant?limit=50", None),
            ("get", "GET", f"/api/solar-plant/plant/{plant_id}", None),
            ("rename", "PUT", f"/api/solar-plant/plant/{plant_id}", json.dumps({"name": "counted"})),
            ("report 30 days", "GET", f"/api/solar-plant/report?plant-id={plant_id}&from={day}"
             f"&to={day + timedelta(days=29)}&granularity=day", None),
            ("data 1 day", "GET", f"/api/solar-plant/data?plant-id={plant_id}&from={day}&to={day}", None),
        ]:  # fmt: skip
            route, params, _ = match_route(template.api_routes(), method, path.split("?")[0])
            assert route is not None
            headers = [("Content-Type", "application/json")] if body else []
            event = build_event(route, method, path, params, headers, (body or "").encode(), "Prod",
                                authorizer=auth)  # fmt: skip
            handler = load_handler(functions[route.function], template.layer_dirs())
            handler(event, FakeContext("bench", 256, 10))  # warm: the models bound
            if method == "PUT":
                event["body"] = json.dumps({"name": f"counted again {time.time()}"})
            calls.clear()
            result = handler(event, FakeContext("bench", 256, 10))
            counted[f"{kind} ({result['statusCode']})"] = dict(calls)
    finally:
        Connection.dispatch = dispatch  # type: ignore[method-assign]
        os.environ.clear()
        os.environ.update(saved)
        reset_settings()
    return counted


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        measure(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)
    else:
        port, token, threads = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
        print(json.dumps(clients(port, token, json.loads(sys.stdin.read()), threads)))
