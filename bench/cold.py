"""4. Cold start: import + first response of each handler, today's code beside the baseline's,
the import breakdown by package, and what `sam build` ships.

Each sample is a fresh Python 3.13 process that imports the handler and, for the API functions
and the authorizer, answers one request against DynamoDB Local (a key check, a plant, a 30-day
day report). The code is laid out as Lambda has it: `powerfactor` byte-compiled as the layer's
Makefile does (unchecked-hash `.pyc`), `app.py` as source, nothing written
(`PYTHONDONTWRITEBYTECODE`, `/opt` is read-only). The environment is a Lambda's with
`Tracing: Active` (LAMBDA_TASK_ROOT, a sampled `_X_AMZN_TRACE_ID`; the X-Ray daemon address is a
closed local UDP port), so the baseline's Powertools Tracer is on, as it is on AWS.

The baseline is the code of `BASELINE` (before issue 13), extracted with `git archive`, run in
the same environment with the same events, interleaved with today's code sample by sample; so is
the code of each `--against` commit, in a table of its own with the modules each imports.
"""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

from bench.common import PY, ROOT, Services, ms, new_plant, row, say, short_rev, table

BASELINE = "ea52372"  # the last commit before issue 13's changes

HANDLERS = {
    "AuthorizerFunction": "functions/authorizer",
    "PlantsApiFunction": "functions/plants_api",
    "DataApiFunction": "functions/data_api",
    "PlantStreamFunction": "functions/plant_stream",
    "SyncWorkerFunction": "functions/sync_worker",
    "DailySyncFunction": "functions/daily_sync",
}
API = ("AuthorizerFunction", "PlantsApiFunction", "DataApiFunction")

RUNS = 7
IMPORT_RUNS = 3  # -X importtime processes per handler and code, for the modules each imports
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

# A fresh process: the handler's import, then (if an event is given) its first answer.
CHILD = r"""
import json, os, time
c0, t0 = time.process_time(), time.perf_counter()
import app
t1 = time.perf_counter()
out = {"import": t1 - t0, "cpu": time.process_time() - c0}
if os.environ.get("BENCH_EVENT"):
    class Context:
        function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        function_version = "$LATEST"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
        memory_limit_in_mb = 256
        aws_request_id = "bench-cold"
        log_group_name = "/aws/lambda/" + function_name
        log_stream_name = "bench"
        def get_remaining_time_in_millis(self):
            return 10_000
    result = app.lambda_handler(json.loads(os.environ["BENCH_EVENT"]), Context())
    out["total"] = time.perf_counter() - t0
    out["cpu"] = time.process_time() - c0
    out["status"] = result.get("statusCode") or ("allow" if "policyDocument" in result else "?")
print(json.dumps(out))
"""


def _tree(rev: str) -> Path:
    """A commit's functions and layer package, extracted from git."""
    tree = Path(tempfile.mkdtemp(prefix=f"bench-cold-{rev}-"))
    archive = subprocess.run(
        ["git", "archive", rev, "functions", "layers/powerfactor/powerfactor"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def _staged(root: Path, path: str) -> Path:
    """The handler and the powerfactor package of `root` laid out as Lambda has them."""
    staged = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    shutil.copy(root / path / "app.py", staged / "app.py")
    shutil.copytree(
        root / "layers/powerfactor/powerfactor",
        staged / "powerfactor",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    compileall.compile_dir(
        staged / "powerfactor", quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
    return staged


def _env(services: Services, name: str, staged: Path, event: dict | None, **extra: str) -> dict[str, str]:
    env = {
        **services.child_env(name),
        "PYTHONPATH": str(staged),
        "PYTHONDONTWRITEBYTECODE": "1",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "LAMBDA_TASK_ROOT": str(staged),
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:9",
        **extra,
    }
    env.pop("POWERTOOLS_TRACE_DISABLED", None)  # on AWS it is unset: the Tracer follows Tracing: Active
    if event is not None:
        env["BENCH_EVENT"] = json.dumps(event)
    return env


def _sample(env: dict[str, str], importtime: bool = False) -> tuple[dict[str, Any], str]:
    args = [PY, *(["-X", "importtime"] if importtime else []), "-c", CHILD]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _imports(stderr: str) -> dict[str, int]:
    """Each module `-X importtime` saw imported, with its self time (microseconds)."""
    spent: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:") :].split("|")
        spent[name.strip()] = int(self_us)
    return spent


def _breakdown(stderr: str) -> Counter[str]:
    """Microseconds of `-X importtime`'s self time per top-level package."""
    spent: Counter[str] = Counter()
    for name, self_us in _imports(stderr).items():
        spent[name.split(".")[0]] += self_us
    return spent


def _events(services: Services) -> dict[str, dict[str, Any]]:
    """A first request for each API function and the authorizer, with what it needs stored."""
    from devstack.apigateway import build_event, match_route
    from devstack.authorizer import method_arn
    from devstack.monitoring import hour_values
    from devstack.template import load_template
    from powerfactor.access import keys as apikeys
    from powerfactor.datapoints import store as datapoints
    from powerfactor.datapoints.schemas import Datapoint
    from powerfactor.plants import logic as plants
    from powerfactor.runtime.settings import reset_settings

    os.environ.update(services.child_env("PlantsApiFunction"))
    os.environ.update(services.child_env("AuthorizerFunction"))
    reset_settings()
    token, key = apikeys.create_key("bench cold", ["read"])
    plant = new_plant(plants, f"bench cold plant {os.getpid()}")
    first = date(2025, 12, 1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range(30 * 24)]
    points = [Datapoint(hour, *hour_values(str(plant.id), hour.replace(tzinfo=None))) for hour in hours]
    datapoints.write_days(plant.id, points)
    routes = load_template().api_routes()
    context = {"principalId": key.key_id, **apikeys.authorizer_context(key)}

    def api(path: str, query: str) -> dict[str, Any]:
        route, params, _ = match_route(routes, "GET", path)
        assert route is not None
        return build_event(route, "GET", f"{path}?{query}" if query else path, params, [], b"", "Prod",
                           authorizer=context)  # fmt: skip

    plant_path = f"/api/solar-plant/plant/{plant.id}"
    return {
        "AuthorizerFunction": {
            "type": "TOKEN",
            "authorizationToken": f"Bearer {token}",
            "methodArn": method_arn("Prod", "GET", plant_path),
        },
        "PlantsApiFunction": api(plant_path, ""),
        "DataApiFunction": api(
            "/api/solar-plant/report", f"plant-id={plant.id}&from={first}&to={first + timedelta(days=29)}"
        ),
    }


def cold_start(services: Services, against: Sequence[str] = ()) -> None:
    events = _events(services)
    baseline = _tree(BASELINE)
    refs = {short_rev(rev): _tree(rev) for rev in against}
    results: dict[str, dict[str, list[float]]] = {}
    cpus: dict[str, dict[str, list[float]]] = {}  # the same window's CPU time: steadier on a shared machine
    breakdowns: dict[str, Counter[str]] = {}
    imported: dict[str, dict[str, dict[str, int]]] = {}  # handler -> variant -> module -> self us
    statuses: dict[str, set[str]] = {}
    for name, path in HANDLERS.items():
        event = events.get(name)
        staged = {"baseline": _staged(baseline, path), "now": _staged(ROOT, path)}
        staged |= {ref: _staged(tree, path) for ref, tree in refs.items()}
        variants = {variant: _env(services, name, code, event) for variant, code in staged.items()}
        if name in API:  # what the X-Ray SDK costs when a deployment turns it on
            sdk_on = _env(services, name, staged["now"], event, POWERFACTOR_XRAY_SDK="true")
            variants["now, X-Ray SDK on"] = sdk_on
        samples: dict[str, list[float]] = {v: [] for v in variants}
        cpu: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(RUNS):  # interleaved: a slow moment of the machine hits every variant alike
            for variant, env in variants.items():
                out, _ = _sample(env)
                samples[variant].append(out.get("total", out["import"]))
                cpu[variant].append(out["cpu"])
                statuses.setdefault(name, set()).add(f"{variant}: {out.get('status', '-')}")
        results[name] = samples
        cpus[name] = cpu
        imported[name] = {}
        for variant in ["now", *refs]:  # each module's median self time of a few processes
            runs = [_sample(variants[variant], importtime=True)[1] for _ in range(IMPORT_RUNS)]
            if variant == "now":
                breakdowns[name] = _breakdown(runs[0])
            seen = [_imports(stderr) for stderr in runs]
            imported[name][variant] = {m: int(statistics.median(s.get(m, 0) for s in seen)) for m in seen[0]}
        for code in staged.values():
            shutil.rmtree(code)
    for tree in [baseline, *refs.values()]:
        shutil.rmtree(tree)

    table(
        f"Cold start: import + first response (API functions, authorizer) or import (the others); "
        f"fresh Python 3.13 processes, median of {RUNS}, interleaved; baseline = {BASELINE}",
        "handler", "measured", "baseline", "now", "now / baseline", "goal", "CPU: baseline, now, ratio",
        "now, X-Ray SDK on",
    )  # fmt: skip
    for name, samples in results.items():
        b, n = statistics.median(samples["baseline"]), statistics.median(samples["now"])
        sdk = samples.get("now, X-Ray SDK on")
        goal = f"<= 0.5 x: {'met' if n <= 0.5 * b else 'missed'}" if name in API else "-"
        cb, cn = statistics.median(cpus[name]["baseline"]), statistics.median(cpus[name]["now"])
        row(
            name, "import + first response" if name in API else "import", ms(b), ms(n),
            f"**{n / b:.2f} x**", goal, f"{ms(cb)}, {ms(cn)}, {cn / cb:.2f} x",
            ms(statistics.median(sdk)) if sdk else "-",
        )  # fmt: skip
    bad = {n: s for n, s in statuses.items() if any(not x.endswith(("200", "allow", "-")) for x in s)}
    if bad:
        say(f"\n(unexpected first answers: {bad})")

    for ref in refs:
        _beside(ref, results, cpus, imported)

    table(
        "Where today's cold start goes: `-X importtime` self time by top-level package (one process, "
        "import + first response)",
        "handler", "all imports", "largest packages", "own code (powerfactor, app)",
    )  # fmt: skip
    for name, spent in breakdowns.items():
        total = sum(spent.values())
        own = spent["powerfactor"] + spent["app"]
        largest = [(pkg, us) for pkg, us in spent.most_common(8) if pkg not in ("powerfactor", "app")]
        top = ", ".join(f"{pkg} {us / 1000:.0f} ms" for pkg, us in largest)
        row(name, f"{total / 1000:.0f} ms", top, f"{own / 1000:.0f} ms ({own / total * 100:.0f} %)")


def _beside(
    ref: str,
    results: dict[str, dict[str, list[float]]],
    cpus: dict[str, dict[str, list[float]]],
    imported: dict[str, dict[str, dict[str, int]]],
) -> None:
    """Today's cold starts beside one `--against` commit's, and the modules each imported (one
    `-X importtime` process each: all modules; the layer's own, and their self time)."""
    table(
        f"Cold start beside {ref} (same run, interleaved; median of {RUNS}); modules imported by import "
        "+ first response",
        "handler", ref, "now", "now / " + ref, f"CPU: {ref}, now, ratio", "modules: all",
        "modules: powerfactor's", "powerfactor's self time",
    )  # fmt: skip
    for name, samples in results.items():
        was, now = statistics.median(samples[ref]), statistics.median(samples["now"])
        cpu_was, cpu_now = statistics.median(cpus[name][ref]), statistics.median(cpus[name]["now"])
        old, new = imported[name][ref], imported[name]["now"]
        own_old = {m: us for m, us in old.items() if m.split(".")[0] == "powerfactor"}
        own_new = {m: us for m, us in new.items() if m.split(".")[0] == "powerfactor"}
        row(
            name, ms(was), ms(now), f"**{now / was:.2f} x**",
            f"{ms(cpu_was)}, {ms(cpu_now)}, {cpu_now / cpu_was:.2f} x",
            f"{len(old)} -> {len(new)}", f"{len(own_old)} -> {len(own_new)}",
            f"{sum(own_old.values()) / 1000:.1f} -> {sum(own_new.values()) / 1000:.1f} ms",
        )  # fmt: skip


def build_size() -> None:
    build = ROOT / ".aws-sam" / "build"
    if not build.exists():
        say("\n(no .aws-sam/build: run `make build` for the package sizes)")
        return
    table("Unzipped size of `sam build` output", "artifact", "size", "largest parts")
    for artifact in sorted(p for p in build.iterdir() if p.is_dir()):
        root = artifact / "python" if (artifact / "python").exists() else artifact
        parts = {}
        for child in root.iterdir():
            parts[child.name] = (
                sum(f.stat().st_size for f in child.rglob("*") if f.is_file())
                if child.is_dir()
                else child.stat().st_size
            )
        total = sum(parts.values())
        top = ", ".join(f"{k} {_size(v)}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1])[:4])
        row(artifact.name, _size(total), top)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


if __name__ == "__main__":
    sys.exit("run it as `python -m bench --only cold`")
