"""Sum the Hypothesis statistics of the DOT fuzz tests (scripts/fuzz).

Usage: ``python -m tests.fuzz.dot_stats LOG`` where LOG is the output of
``pytest --hypothesis-show-statistics tests/workflow/test_fuzz.py``. Prints the inputs per test
and in all; exits 1 when a test had failing inputs or no statistics were found.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

# Tests whose inputs are DOT texts (the others fuzz conditions and stylesheets).
NOT_DOT = ("conditions", "stylesheets")


def main(argv: Sequence[str] | None = None) -> int:
    (log,) = argv if argv is not None else sys.argv[1:]
    text = Path(log).read_text(encoding="utf-8")
    blocks = re.split(r"^(tests/\S+::\w+):$", text, flags=re.M)
    total = dot = failing = 0
    for name, body in zip(blocks[1::2], blocks[2::2], strict=True):
        runs = [(int(p), int(f)) for p, f in re.findall(r"(\d+) passing, (\d+) failing", body)]
        passing, failed = sum(p for p, _ in runs), sum(f for _, f in runs)
        print(f"  {name}: {passing} passing, {failed} failing")
        total += passing + failed
        failing += failed
        if not any(word in name for word in NOT_DOT):
            dot += passing + failed
    if not blocks[1:]:
        print(text)
        return 1
    print(f"DOT fuzz: {dot} DOT inputs parsed and validated ({total} inputs in all)")
    print(f"DOT fuzz failures: {failing}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
