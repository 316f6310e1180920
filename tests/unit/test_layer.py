"""The layer's pinned packages (requirements.lock) are exactly what requirements.txt needs, less
what the python3.13 Lambda runtime provides, at the versions the tests run against."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LAYER = Path(__file__).resolve().parents[2] / "layers" / "powerfactor"
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}


def _requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


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


def test_the_lock_is_the_closure_of_the_requirements_less_the_runtime() -> None:
    locked = {canonicalize_name(r.name) for r in _requirements(LAYER / "requirements.lock")}
    needed = _closure(_requirements(LAYER / "requirements.txt"))
    assert RUNTIME_PROVIDED & needed  # pynamodb does need botocore: the runtime gives it
    assert locked == needed - RUNTIME_PROVIDED


def test_the_lock_pins_the_versions_the_tests_run_against() -> None:
    for requirement in _requirements(LAYER / "requirements.lock"):
        (pin,) = requirement.specifier
        assert pin.operator == "==", requirement
        assert metadata.version(requirement.name) == pin.version, requirement
