"""Process-wide settings of the long-running commands (`fabro serve`, `fabro run`)."""

from __future__ import annotations

import gc

# Allocations between two young-generation collections (CPython's default is 700). The engine
# allocates a few thousand short-lived objects per stage (events, their JSON, checkpoint
# rows), so at the default the collector runs several times a stage; with this it runs about
# once every few stages, at a memory cost of at most this many young objects.
YOUNG_THRESHOLD = 10_000
_tuned = False


def tune_collector() -> None:
    """Collect less often, and never again scan what exists at start-up (modules, settings).

    ``gc.freeze`` moves every object alive now to a generation the collector ignores: they
    live as long as the process, and the full collections need not walk them each time.
    """
    global _tuned
    if _tuned:  # once: a second freeze would keep whatever was made since for good
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
