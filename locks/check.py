"""Check that a hashed lock still answers its inputs, before anything is installed from it.

    python locks/check.py LOCK INPUT [INPUT ...]

Each environment the project creates is installed from a lock of its whole closure, with a hash
for every file (`make lock` writes them with uv; the Makefile's header says why uv). Installing
with `--require-hashes` already refuses a lock entry without a hash; this check refuses the two
ways a floating version could still get in before the installer runs:

- a direct requirement of an input (following `-r`) that is not pinned with `==`, or that the
  lock lacks or pins at another version: the input changed and the lock was not re-resolved;
- a lock entry that is not an exact `==` pin or carries no `--hash`.

Standard library only: it runs before any environment exists. Each failure is one
line that says what to run; the exit code is 1 when there is any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import NamedTuple

FIX = "run `make lock UPGRADE=` to re-resolve the locks from their inputs (`make lock` also upgrades)"
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(path: Path) -> list[str]:
    """The file's lines without comments, with backslash continuations joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in text.splitlines())
    return [line for line in lines if line]


def direct_requirements(path: Path) -> dict[str, tuple[str, str]]:
    """`{name: (specifier, where)}` of an input file and the files it includes with `-r`."""
    found: dict[str, tuple[str, str]] = {}
    for line in logical_lines(path):
        if line.startswith(("-r ", "--requirement ")):
            found.update(direct_requirements(path.parent / line.split(None, 1)[1]))
            continue
        match = _NAME.match(line)
        if match is None:
            raise ValueError(f"{path}: cannot read the requirement {line!r}")
        found[canonical(match[1])] = (match[3].split(";")[0].strip(), f"{path}: {line}")
    return found


class Entry(NamedTuple):
    """One package of a lock: `==version`, its environment marker ('' for every one), hashes."""

    specifier: str
    marker: str
    hashes: list[str]


def locked(path: Path) -> dict[str, Entry]:
    """`{name: Entry}` of a lock written by `uv pip compile --generate-hashes`."""
    entries: dict[str, Entry] = {}
    for line in logical_lines(path):
        match = _NAME.match(line)
        if match is None:
            raise ValueError(f"{path}: cannot read the entry {line!r}")
        requirement = re.sub(r"\s--hash=\S+", "", match[3]).strip()
        specifier, _, marker = requirement.partition(";")
        hashes = re.findall(r"--hash=(\S+)", match[3])
        entries[canonical(match[1])] = Entry(specifier.strip(), marker.strip(), hashes)
    return entries


def problems(lock: Path, inputs: list[Path]) -> list[str]:
    """What is wrong with `lock` for `inputs`, one line each: empty when it is sound."""
    found: list[str] = []
    entries = locked(lock)
    for name, entry in sorted(entries.items()):
        if not re.fullmatch(r"==[^,*]+", entry.specifier):
            found.append(
                f"{lock}: {name} is not pinned to one version ({entry.specifier or 'no version'}): {FIX}"
            )
        elif not entry.hashes:
            found.append(f"{lock}: {name}{entry.specifier} has no --hash: {FIX}")
    wanted: dict[str, tuple[str, str]] = {}
    for path in inputs:
        wanted.update(direct_requirements(path))
    for name, (specifier, where) in sorted(wanted.items()):
        if not re.fullmatch(r"==[^,*]+", specifier):
            found.append(f"{where}: pin it with == (every direct requirement is exact), then {FIX}")
        elif name not in entries:
            found.append(f"{lock} lacks {name}{specifier} ({where}): {FIX}")
        elif entries[name].specifier != specifier:
            found.append(
                f"{lock} has {name}{entries[name].specifier}, its input asks {specifier} ({where}): {FIX}"
            )
    return found


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    found = problems(Path(argv[0]), [Path(path) for path in argv[1:]])
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
