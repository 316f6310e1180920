"""How a PowerFactor Lambda process uses Python's cyclic garbage collector.

A handler module imports this module before anything else (`from powerfactor import collector`,
alone above an `# isort: split`), and importing it stops the collector: the ~500 modules a
handler imports create ~150,000 tracked objects that live as long as the process, and collecting
while they are being created is 5-10 % of a cold start's CPU (20-55 ms of import + first response,
measured with `gc.callbacks`; bench/README.md). At the end of its imports the handler calls
`imports_done()`: those objects leave the collector's generations for good (`gc.freeze`), so that
no later collection traverses them again, and the collector runs as before for everything the
requests allocate.

Only the first handler imported in a process stops the collector (a module runs once); a second
one (tests, the local stack's in-process tools) imports with the collector on, which changes
nothing but speed.
"""

from __future__ import annotations

import gc

gc.disable()


def imports_done() -> None:
    """The handler's imports are done: freeze what they created and collect again."""
    gc.freeze()
    gc.enable()
