"""A short schemathesis run over every operation of a real `fabro serve` (scripts/fuzz: long).

What the suite covers, in about 15 s: every operation in schemathesis' examples, fuzzing and
stateful phases (``EXAMPLES`` examples each), and the coverage phase (every boundary and
negative case the document defines; about 8,500 requests, a minute, over all operations) on
one slice of ``SLICES``, chosen by the day (UTC): the slices hold every operation once, so
``SLICES`` days of runs go through all of them. ``FABRO_FUZZ_SLICE=k`` runs slice ``k``. The
one operation no slice holds is ``GET /events``: its coverage cases each keep the global
stream (which never ends) open for the whole stream timeout, 24 s alone.

What `scripts/fuzz` covers: every phase, the coverage phase included, on every operation,
with 50 examples each, in rounds until 5,000 requests are made.

Any check failure, schemathesis error or server problem fails the test with the report.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from fabro.api.routes import ROUTES
from tests.fuzz.api import coverage_slice, fuzz_api

EXAMPLES = 3
SLICES = 8
NO_SLICE = {"streamEvents"}  # scripts/fuzz only: see the docstring
MIN_REQUESTS = 500  # the other phases make ~400 whatever the slice: a vacuous run fails


def todays_slice() -> int:
    chosen = os.environ.get("FABRO_FUZZ_SLICE")
    return int(chosen) if chosen else datetime.now(UTC).date().toordinal() % SLICES


def test_every_operation_conforms_to_the_openapi_document(tmp_path: Path) -> None:
    slices = [coverage_slice(number, SLICES) for number in range(SLICES)]
    assert sorted(op for s in slices for op in s) == sorted(r.operation_id for r in ROUTES)
    assert NO_SLICE <= {route.operation_id for route in ROUTES}
    number = todays_slice()
    coverage = coverage_slice(number, SLICES) - NO_SLICE
    result = fuzz_api(
        tmp_path, min_requests=1, examples=EXAMPLES, seed_value=20260601, coverage=coverage
    )
    report = (
        f"coverage phase on slice {number} of {SLICES} (FABRO_FUZZ_SLICE={number} to rerun): "
        f"{', '.join(sorted(coverage))}\n"
        + result.summary()
        + "".join(f"\n{r.output}" for r in result.rounds if not r.ok)
    )
    assert result.ok, report
    # Every operation but GET /openapi.json itself, which schemathesis reads and does not test.
    (fuzz_round,) = result.rounds
    assert fuzz_round.operations_tested == len(ROUTES) - 1, report
    assert result.requests >= MIN_REQUESTS, report
