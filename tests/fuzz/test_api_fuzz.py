"""A short schemathesis run over every operation of a real `fabro serve` (scripts/fuzz: long).

All phases of schemathesis (coverage, fuzzing, stateful) with a few examples per operation;
any check failure, schemathesis error or server problem fails the test with the report.
"""

from __future__ import annotations

from pathlib import Path

from fabro.api.routes import ROUTES
from tests.fuzz.api import fuzz_api

EXAMPLES = 5


def test_every_operation_conforms_to_the_openapi_document(tmp_path: Path) -> None:
    result = fuzz_api(tmp_path, min_requests=1, examples=EXAMPLES, seed_value=20260601)
    report = result.summary() + "".join(f"\n{r.output}" for r in result.rounds if not r.ok)
    assert result.ok, report
    # Every operation but GET /openapi.json itself, which schemathesis reads and does not test.
    (fuzz_round,) = result.rounds
    assert fuzz_round.operations_tested == len(ROUTES) - 1, report
    assert result.requests >= 1000, report
