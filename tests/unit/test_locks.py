"""Every Python environment comes from its hashed lock, and every lock is exactly what `make lock`
resolves from its inputs: no version floats in, whatever the registries published since."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType

import moto
import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".uv" / "bin" / "uv"
LAYER_LOCK = ROOT / "layers" / "powerfactor" / "requirements.lock"
# each lock, and the inputs locks/check.py holds it to (the Makefile's install rules say the same)
LOCKS = {
    "locks/bootstrap.lock": ["locks/bootstrap.txt"],
    "locks/dev.lock": ["requirements-dev.txt"],
    "locks/tools.lock": ["requirements-tools.txt"],
    "locks/scan.lock": ["requirements-scan.txt"],
    "layers/powerfactor/requirements.lock": ["layers/powerfactor/requirements.txt"],
}
ENVIRONMENTS = {".venv-tools": "locks/tools.lock", ".venv-scan": "locks/scan.lock"}
# what the python3.13 Lambda runtime provides: `make lock` leaves it out of the layer's lock
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}


def _check_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_check", ROOT / "locks" / "check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _check_module()


def _pins_for_this_python(lock: Path) -> dict[str, str]:
    """`{name: version}` of the lock's entries whose markers hold for this interpreter."""
    return {
        name: entry.specifier.removeprefix("==")
        for name, entry in check.locked(lock).items()
        if not entry.marker or Marker(entry.marker).evaluate()
    }


def _installed(python: Path) -> dict[str, str]:
    """`{name: version}` of every distribution in the environment of `python`."""
    script = (
        "import importlib.metadata as m, json\n"
        "print(json.dumps({d.name: d.version for d in m.distributions()}))"
    )
    out = subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True).stdout
    return {canonicalize_name(name): version for name, version in json.loads(out).items()}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_each_lock_answers_its_inputs_with_a_hash_for_every_entry(lock: str) -> None:
    assert check.problems(ROOT / lock, [ROOT / path for path in LOCKS[lock]]) == []
    assert len(check.locked(ROOT / lock)) >= 1


def test_a_lock_without_a_hash_is_refused_by_the_check_and_by_the_installer(tmp_path: Path) -> None:
    lock = tmp_path / "dev.lock"
    text = (ROOT / "locks" / "dev.lock").read_text()
    edited, count = re.subn(r"^(idna==\S+) \\\n(?:    --hash=\S+(?: \\)?\n)+", r"\1\n", text, flags=re.M)
    assert count == 1
    lock.write_text(edited)

    assert check.problems(lock, [ROOT / "requirements-dev.txt"]) == [
        f"{lock}: idna==3.21 has no --hash: " + check.FIX
    ]
    if not UV.exists():
        pytest.skip("uv is not installed (make setup)")
    # what the Makefile's install runs, offline and dry: refused before anything is fetched
    sync = [str(UV), "pip", "sync", "--dry-run", "--offline", "--require-hashes", "--python", sys.executable]
    refused = subprocess.run([*sync, str(lock)], capture_output=True, text=True)
    assert refused.returncode != 0
    assert "all requirements must have a hash, but none were provided for: idna==3.21" in " ".join(
        refused.stderr.split()
    )


def test_a_requirement_the_lock_lacks_or_pins_otherwise_fails_the_check(tmp_path: Path) -> None:
    inputs = tmp_path / "requirements-dev.txt"
    original = (ROOT / "requirements-dev.txt").read_text()
    inputs.write_text(original.replace("pytest==9.2.0", "pytest==9.3.0") + "pyyaml-include==2.2\n")
    (tmp_path / "layers").symlink_to(ROOT / "layers")  # its -r line, relative to the input

    found = check.problems(ROOT / "locks" / "dev.lock", [inputs])
    assert any("lacks pyyaml-include==2.2" in line and line.endswith(check.FIX) for line in found), found
    assert any("has pytest==9.2.0, its input asks ==9.3.0" in line for line in found), found

    inputs.write_text(original + "requests>=2\n")  # a range is a floating version too
    assert any(
        "requests>=2: pin it with ==" in line
        for line in check.problems(ROOT / "locks" / "dev.lock", [inputs])
    )
    run = subprocess.run(
        [sys.executable, str(ROOT / "locks" / "check.py"), str(ROOT / "locks" / "dev.lock"), str(inputs)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "make lock" in run.stderr


def test_every_install_checks_its_lock_then_installs_exactly_it_with_hashes() -> None:
    """`make -n` with each lock taken as new: the check runs first, then a hash-checked sync."""
    for target, lock in [
        (".venv/.stamp", "locks/dev.lock"),
        *((f"{env}/.stamp", lock) for env, lock in ENVIRONMENTS.items()),
    ]:
        plan = subprocess.run(
            ["make", "-n", "-W", lock, target], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        steps = [line for line in plan.splitlines() if "locks/check.py" in line or " pip " in line]
        assert "locks/check.py " + lock in steps[0], plan
        python = f"{target.split('/')[0]}/bin/python"
        assert f"pip sync --quiet --require-hashes --compile-bytecode --python {python} {lock}" in steps[1], (
            plan
        )
    plan = subprocess.run(
        ["make", "-n", "-W", "locks/bootstrap.lock", ".uv/bin/uv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--require-hashes --no-deps" in plan and "-r locks/bootstrap.lock" in plan
    layer = (ROOT / "layers" / "powerfactor" / "Makefile").read_text()
    assert "pip install --quiet --require-hashes --no-deps" in layer and "-r requirements.lock" in layer


def test_the_dev_environment_is_byte_compiled() -> None:
    """The local stack's function processes run with -B (they write no .pyc): a venv without
    compiled files made every one of them compile all it imports, and local requests 3x slower."""
    assert moto.__file__ is not None
    sources = list(Path(moto.__file__).parent.rglob("*.py"))  # the tests import few of moto's modules
    compiled = [path for path in sources if Path(importlib.util.cache_from_source(str(path))).is_file()]
    assert len(sources) > 500 and len(compiled) >= 0.95 * len(sources), (len(compiled), len(sources))


def test_the_tests_run_in_exactly_the_dev_lock() -> None:
    assert _installed(Path(sys.executable)) == _pins_for_this_python(ROOT / "locks" / "dev.lock")


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_each_tool_environment_is_exactly_its_lock(env: str) -> None:
    python = ROOT / env / "bin" / "python"
    if not python.exists():
        pytest.skip(f"{env} is not installed (make setup)")
    assert _installed(python) == _pins_for_this_python(ROOT / ENVIRONMENTS[env])


def test_the_built_layer_is_exactly_its_lock() -> None:
    built = ROOT / ".aws-sam" / "build" / "PowerFactorLayer" / "python"
    if not built.is_dir():
        pytest.skip("the layer is not built (make build)")
    dists = {}
    for info in built.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        dists[canonicalize_name(name)] = version
    assert dists == {
        name: entry.specifier.removeprefix("==") for name, entry in check.locked(LAYER_LOCK).items()
    }


def _lock_commands() -> list[list[str]]:
    """`make lock UPGRADE=`'s commands (each lock's versions kept) as it would run them."""
    plan = subprocess.run(
        ["make", "-s", "-n", "lock", "UPGRADE="], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [shlex.split(line) for line in plan.replace("\\\n", " ").splitlines() if " pip compile " in line]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_each_lock_is_exactly_what_make_lock_resolves_from_its_inputs(lock: str, tmp_path: Path) -> None:
    """`make lock`'s own command, keeping the lock's versions: any package missing, extra, or with
    other hashes makes a different file."""
    if not UV.exists():
        pytest.skip("uv is not installed (make setup)")
    (command,) = [argv for argv in _lock_commands() if argv[argv.index("-o") + 1] == lock]
    out = tmp_path / Path(lock).name
    out.write_bytes((ROOT / lock).read_bytes())
    argv = [*command]
    argv[argv.index("-o") + 1] = str(out)
    assert "--upgrade" not in argv  # that would compare with today's newest releases
    # offline when uv's cache knows every candidate; online (PyPI) for what it does not
    if subprocess.run([*argv, "--offline"], cwd=ROOT, capture_output=True).returncode != 0:
        subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.read_text() == (ROOT / lock).read_text()


def _closure(roots: list[Requirement]) -> set[str]:
    """Every distribution these requirements pull in, as installed in this environment."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in roots]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            child = Requirement(text)
            envs = [{"extra": e} for e in extras] or [{"extra": ""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in envs):
                todo.append((child, frozenset(child.extras)))
    return seen


def test_the_layer_lock_is_the_closure_of_its_requirements_less_the_runtime() -> None:
    needed = _closure(
        [Requirement(line) for line in check.logical_lines(ROOT / "layers/powerfactor/requirements.txt")]
    )
    assert RUNTIME_PROVIDED & needed  # pynamodb does need botocore: the runtime gives it
    assert set(check.locked(LAYER_LOCK)) == needed - RUNTIME_PROVIDED
