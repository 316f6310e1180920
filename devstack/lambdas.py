"""Run the template's functions as Lambda does: each in its own warm worker process.

A worker gets the function's environment (from the template, with the local stack's values),
the layer and the function's code directory on sys.path, imports the handler once, and then
handles one event at a time with a Lambda-like context. Up to `concurrency` workers run per
function (`limits` per function: its ReservedConcurrentExecutions, an SQS source's
MaximumConcurrency), like Lambda's concurrent execution environments: each is started when a
request finds no idle one, and then kept warm; a worker that died is replaced.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from devstack.template import Function

_mp = multiprocessing.get_context("spawn")


def default_workers() -> int:
    """Warm workers per function when neither the template nor `--workers` says: two per core
    (a request waits on DynamoDB about as long as it computes), at least 2, at most 8."""
    return max(2, min(8, 2 * (os.cpu_count() or 1)))


@dataclass
class FakeContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = ""
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self._started = time.monotonic()

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._started + self.timeout_s - time.monotonic()) * 1000))


def load_module(function: Function, layer_dirs: list[Path]) -> ModuleType:
    """Import a function's handler module in this process, as the Lambda runtime would: with the
    literal variables of its environment set (Powertools reads POWERTOOLS_* once, at import), the
    process's own values of them winning."""
    for path in [str(function.code_dir), *map(str, layer_dirs)]:
        if path not in sys.path:
            sys.path.insert(0, path)
    # A unique module name, so that several functions' `app.py` can live in one process (tests).
    name = f"lambda_{function.logical_id}_{function.module.replace('/', '_')}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, function.code_dir / f"{function.module}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        env = function.environment
        literal = {k: v for k, v in env.items() if isinstance(v, str) and k not in os.environ}
        os.environ.update(literal)
        try:
            sys.modules[name] = module
            spec.loader.exec_module(module)
        finally:
            for key in literal:
                os.environ.pop(key, None)
    return sys.modules[name]


def load_handler(function: Function, layer_dirs: list[Path]) -> Callable[[dict, Any], Any]:
    """A function's handler, imported in this process."""
    return getattr(load_module(function, layer_dirs), function.handler)


def _worker_main(function: Function, layer_dirs: list[Path], env: dict[str, str], conn: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops workers; Ctrl-C is for it
    os.environ.update(env)
    handler = load_handler(function, layer_dirs)
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if message is None:
            return
        event, request_id = message
        context = FakeContext(function.logical_id, function.memory, function.timeout, request_id)
        try:
            conn.send(("ok", handler(event, context)))
        except BaseException as error:  # the Lambda runtime reports any error of the handler
            conn.send(
                (
                    "error",
                    {
                        "errorType": type(error).__name__,
                        "errorMessage": str(error),
                        "stackTrace": traceback.format_exc().splitlines(),
                    },
                )
            )


class InvocationError(RuntimeError):
    """The handler raised, or its worker died: Lambda would report a function error."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(f"{payload['errorType']}: {payload['errorMessage']}")
        self.payload = payload


class _Worker:
    def __init__(self, function: Function, layer_dirs: list[Path], env: dict[str, str]) -> None:
        self.conn, child = _mp.Pipe()
        self.process = _mp.Process(target=_worker_main, args=(function, layer_dirs, env, child), daemon=True)
        self.process.start()
        child.close()
        status, _ = self.conn.recv()
        assert status == "ready"

    def invoke(self, event: dict, timeout: float) -> Any:
        self.conn.send((event, str(uuid.uuid4())))
        if not self.conn.poll(timeout):
            self.stop()
            raise InvocationError(
                {"errorType": "TimeoutError", "errorMessage": f"timed out after {timeout:.0f}s"}
            )
        status, payload = self.conn.recv()
        if status == "error":
            raise InvocationError(payload)
        return payload

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.process.join(2)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()


class LambdaRuntime:
    """Invokes the functions of the template by logical id, each in its own worker processes."""

    def __init__(
        self,
        functions: dict[str, Function],
        layer_dirs: list[Path],
        environment: dict[str, dict[str, str]],
        concurrency: int | None = None,
        limits: dict[str, int] | None = None,
    ) -> None:
        self.functions = functions
        self.layer_dirs = layer_dirs
        self.environment = environment
        self._idle: dict[str, list[_Worker]] = {name: [] for name in functions}
        self._all: list[_Worker] = []
        limits = limits or {}  # per function, e.g. an SQS source's MaximumConcurrency
        self.concurrency = concurrency or default_workers()
        self.limits = {name: limits.get(name, self.concurrency) for name in functions}
        self._slots = {name: threading.BoundedSemaphore(self.limits[name]) for name in functions}
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()
        self.invocations: Counter[str] = Counter()  # per function, since start
        self.peak_concurrency: Counter[str] = Counter()  # most invocations of a function at once

    def invoke(self, name: str, event: dict) -> Any:
        """Invoke a function synchronously and return what its handler returned."""
        function = self.functions[name]
        with self._slots[name]:
            with self._lock:
                worker = self._idle[name].pop() if self._idle[name] else None
                self.invocations[name] += 1
                self._running[name] += 1
                self.peak_concurrency[name] = max(self.peak_concurrency[name], self._running[name])
            if worker is None or not worker.alive():
                worker = _Worker(function, self.layer_dirs, self.environment[name])
                with self._lock:
                    self._all.append(worker)
            try:
                return worker.invoke(event, timeout=function.timeout)
            finally:
                with self._lock:
                    self._running[name] -= 1
                    if worker.alive():
                        self._idle[name].append(worker)

    def stop(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.stop()
