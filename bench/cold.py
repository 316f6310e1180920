"""4. Cold start: what importing each handler costs, and what `sam build` ships."""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import PY, ROOT, ms, row, table

HANDLERS = {
    "AuthorizerFunction": "functions/authorizer",
    "PlantsApiFunction": "functions/plants_api",
    "DataApiFunction": "functions/data_api",
    "PlantStreamFunction": "functions/plant_stream",
    "SyncWorkerFunction": "functions/sync_worker",
    "DailySyncFunction": "functions/daily_sync",
}


RUNS = 7


def _staged(path: str) -> Path:
    """The handler and the powerfactor package laid out as Lambda has them: the layer's code
    byte-compiled as the layer's Makefile does it (unchecked-hash), the function's app.py as
    SAM copies it (source only)."""
    staged = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    shutil.copy(ROOT / path / "app.py", staged / "app.py")
    shutil.copytree(
        ROOT / "layers/powerfactor/powerfactor",
        staged / "powerfactor",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    compileall.compile_dir(
        staged / "powerfactor",
        quiet=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return staged


def _env(staged: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(staged),
        "PYTHONDONTWRITEBYTECODE": "1",  # /opt and /var/task are read-only on Lambda
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _import_seconds(code: str, staged: Path) -> float:
    """Seconds to run `code` (imports only) in a fresh Python 3.13 process."""
    timer = f"import time; t=time.perf_counter(); {code}; print(time.perf_counter()-t)"
    run = subprocess.run([PY, "-c", timer], env=_env(staged), capture_output=True, text=True, check=True)
    return float(run.stdout)


def _third_party_modules(staged: Path) -> tuple[list[str], list[str]]:
    """The third-party packages a handler loads on import, and every module of theirs it loads."""
    code = (
        "import sys, json; before=set(sys.modules); import app; "
        "print(json.dumps(sorted(set(sys.modules)-before)))"
    )
    loaded = json.loads(
        subprocess.run([PY, "-c", code], env=_env(staged), capture_output=True, text=True, check=True).stdout
    )
    stdlib = set(sys.stdlib_module_names)
    top = {m.split(".")[0] for m in loaded}
    third_top = {
        m for m in top if m not in stdlib and m not in ("app", "powerfactor") and not m.startswith("_")
    }
    # every third-party module the handler ended up importing, submodules included
    third = [m for m in loaded if m.split(".")[0] in third_top]
    return sorted(third_top), third


def cold_start() -> None:
    table(
        f"Cold start: import of each handler (fresh Python 3.13 processes, median of {RUNS}, interleaved)",
        "handler", "handler import", "third-party imports alone", "own code adds", "requests/tenacity loaded",
    )  # fmt: skip
    for name, path in HANDLERS.items():
        staged = _staged(path)
        top, modules = _third_party_modules(staged)
        deps_code = f"import importlib; [importlib.import_module(m) for m in {modules!r}]"
        full, deps = [], []
        for _ in range(RUNS):  # alternate, so a slow moment of the machine hits both alike
            full.append(_import_seconds("import app", staged))
            deps.append(_import_seconds(deps_code, staged))
        f, d = statistics.median(full), statistics.median(deps)
        uses_http = [m for m in ("requests", "tenacity") if m in top]
        row(name, ms(f), ms(d), f"{(f / d - 1) * 100:+.0f} %", ", ".join(uses_http) or "no")
        shutil.rmtree(staged)


def build_size() -> None:
    build = ROOT / ".aws-sam" / "build"
    if not build.exists():
        print("\n(no .aws-sam/build: run `make build` for the package sizes)")
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
