"""runtime/gc_policy.py in every handler that uses the layer: imported first, `imports_done()` last."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from powerfactor.runtime import gc_policy as collector

ROOT = Path(__file__).resolve().parents[3]
HANDLERS = ["authorizer", "plants_api", "data_api", "plant_stream", "sync_worker", "daily_sync"]


@pytest.mark.parametrize("function", HANDLERS)
def test_a_handler_imports_without_garbage_collection_and_leaves_the_collector_on(function: str) -> None:
    """Its imports run without collections and what they created is frozen; a handler that forgot
    the first import or the last call would leave the collector off or its imports unfrozen.

    app.py is compiled first: compiling its source (Lambda runs it from source) happens before its
    first line can disable the collector, and for the larger handlers it may run one young
    collection of its own, which is no import's."""
    probe = (
        "import py_compile; py_compile.compile('app.py', doraise=True); "
        "import gc, sys; collections = []; "
        "gc.callbacks.append(lambda phase, info: collections.append(phase)); import app; "
        "print(gc.isenabled(), gc.get_freeze_count() > 10_000, len(collections), "
        "'botocore' in sys.modules)"
    )
    path = f"{ROOT / 'functions' / function}:{ROOT / 'layers/powerfactor'}"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT / "functions" / function,
        env={"PYTHONPATH": path, "PATH": "/usr/bin", "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "0", "True"], done.stderr


def test_without_the_collector_module_the_same_imports_collect_many_times() -> None:
    """The probe above can fail: the plants API's imports with the collector on run dozens of collections."""
    probe = (
        "import gc; collections = []; gc.callbacks.append(lambda phase, info: collections.append(phase)); "
        "import aws_lambda_powertools.event_handler, pynamodb.models; print(len(collections) // 2)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env={"PATH": "/usr/bin"}, capture_output=True, text=True, check=True
    )
    assert int(done.stdout) > 10


def test_a_sync_process_collects_young_objects_less_often() -> None:
    """What the worker runs at import (`collector.fewer_young_collections`): the young
    generation's threshold raised, the older generations' kept."""
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        collector.fewer_young_collections()
        assert gc.get_threshold() == (collector.YOUNG_COLLECTION_EVERY, 10, 10)
    finally:
        gc.set_threshold(*before)
