"""How a PowerFactor Lambda process uses Python's cyclic garbage collector.

A handler module stops the collector before its imports (`gc.disable()`, its first statement
after `import gc`; ruff's E402 is off for `functions/*/app.py` for that): the ~500 modules a
handler imports create ~150,000 tracked objects that live as long as the process, and collecting
while they are being created is a noticeable part of a cold start's CPU (measured with
`gc.callbacks`: bench/README.md, "Measured"). At the end of its imports the handler calls
`imports_done()`: those objects leave the collector's generations for good (`gc.freeze`), so that
no later collection traverses them again (the data API's full collections, one every few requests
while it builds a year of hour buckets, are several times shorter without them), and the
collector runs as before for everything the requests allocate.

A sync process (the worker, and the ingest bench's child that stands for it) also collects its
young objects less often (`fewer_young_collections`).

Importing this module changes nothing by itself (tests and benchmarks import it).
"""

from __future__ import annotations

import gc

YOUNG_COLLECTION_EVERY = 20_000  # tracked allocations between two young collections (Python's: 2,000)


def imports_done() -> None:
    """The handler's imports are done: freeze what they created and collect again."""
    gc.freeze()
    gc.enable()


def fewer_young_collections() -> None:
    """Run the young collection every `YOUNG_COLLECTION_EVERY` net allocations instead of 2,000
    (the older generations' thresholds unchanged), for the rest of the process. A sync run
    allocates a few container objects (an answer's item, its datapoint, ...) per hour, and they
    live until their month is written: a 10-year backfill ran over a hundred young collections,
    with this a handful (bench/README.md, "Measured"). Every cycle is still collected, a few MB
    later at most."""
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
