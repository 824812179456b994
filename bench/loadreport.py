"""Tallies and the printed table of `scripts/load` (bench/load.py).

Every HTTP request the load clients make is recorded under an operation name with its
latency and one of three outcomes: ``ok`` (the expected status), ``expected`` (a status the
spec allows for a race the load provokes on purpose, such as the 409 of an answer that lost to
another client's answer) or ``error`` (anything else, including transport failures).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.loadgen import percentile

LOCKED = "database is locked"
ERROR_SAMPLES = 20


@dataclass
class OpStats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    expected: int = 0  # allowed 409/410 outcomes of provoked races

    @property
    def count(self) -> int:
        return len(self.latencies_ms)


@dataclass
class Tally:
    """Counts shared by every client (one event loop: no locking needed)."""

    ops: dict[str, OpStats] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    locked_responses: int = 0
    frames: int = 0  # SSE frames read
    dropped_streams: int = 0  # SSE streams the server ended early (slow-subscriber drop)

    def record(self, op: str, latency_ms: float, outcome: str, detail: str = "") -> None:
        stats = self.ops.setdefault(op, OpStats())
        stats.latencies_ms.append(latency_ms)
        if outcome == "expected":
            stats.expected += 1
        elif outcome == "error":
            stats.errors += 1
            self.sample(f"{op}: {detail}")

    def sample(self, text: str) -> None:
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(text[:300])

    def check_body(self, text: str) -> None:
        if LOCKED in text.lower():
            self.locked_responses += 1

    @property
    def requests(self) -> int:
        return sum(stats.count for stats in self.ops.values())

    @property
    def errors(self) -> int:
        return sum(stats.errors for stats in self.ops.values())


@dataclass
class Outcome:
    """What the run left behind, beyond the per-operation tallies."""

    seconds: float = 0.0
    runs_seeded: int = 0
    runs_submitted: int = 0  # new runs created by the clients (replays not counted)
    completed_under_load: int = 0  # runs completed when the clients stopped
    drain_s: float = 0.0  # time to settle every live run at its gate and then finish them all
    stuck: list[str] = field(default_factory=list)  # runs that did not settle or finish
    statuses: dict[str, int] = field(default_factory=dict)  # final, after the drain
    failed_messages: list[str] = field(default_factory=list)
    log_locked: int = 0
    log_tracebacks: int = 0
    log_errors: list[str] = field(default_factory=list)  # WARNING and worse lines of the server
    server_exit: int | None = None

    def problems(self, tally: Tally) -> list[str]:
        """Everything that makes the load test fail; empty when it passed."""
        found = []
        if tally.errors:
            found.append(f"{tally.errors} unexpected responses")
        if tally.locked_responses:
            found.append(f'{tally.locked_responses} responses mention "{LOCKED}"')
        if self.log_locked:
            found.append(f'{self.log_locked} server log lines mention "{LOCKED}"')
        if self.log_tracebacks:
            found.append(f"{self.log_tracebacks} tracebacks in the server log")
        if self.log_errors:
            found.append(f"{len(self.log_errors)} WARNING/ERROR lines in the server log")
        bad_runs = self.statuses.get("failed", 0) + self.statuses.get("cancelled", 0)
        if bad_runs:
            found.append(f"{bad_runs} runs failed or were cancelled")
        if self.stuck:
            found.append(f"{len(self.stuck)} runs did not reach their gate or did not finish")
        if self.server_exit not in (0, None):
            found.append(f"server exited with status {self.server_exit}")
        return found


def scan_log(text: str, outcome: Outcome) -> None:
    for line in text.splitlines():
        if LOCKED in line.lower():
            outcome.log_locked += 1
        if line.startswith("Traceback (most recent call last)"):
            outcome.log_tracebacks += 1
        if any(f" {level} " in line for level in ("WARNING", "ERROR", "CRITICAL")):
            outcome.log_errors.append(line[:300])


def table(tally: Tally) -> list[str]:
    header = ("operation", "count", "errors", "409/410 ok", "p50 ms", "p95 ms", "p99 ms", "max ms")
    rows: list[tuple[str, ...]] = [header]
    for name in sorted(tally.ops):
        stats = tally.ops[name]
        lat = stats.latencies_ms
        rows.append(
            (
                name,
                f"{stats.count:,}",
                f"{stats.errors:,}",
                f"{stats.expected:,}",
                *(f"{percentile(lat, p):.1f}" for p in (50, 95, 99)),
                f"{max(lat):.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
    return lines


def report(title: str, tally: Tally, outcome: Outcome) -> tuple[str, bool]:
    """The printed report and whether the load test passed."""
    lines = [title, *table(tally)]
    rps = tally.requests / outcome.seconds if outcome.seconds > 0 else 0.0
    lines.append(
        f"total: {tally.requests:,} requests in {outcome.seconds:.1f} s = {rps:,.0f} req/s; "
        f"{tally.errors} errors; {tally.frames:,} SSE frames read, "
        f"{tally.dropped_streams} streams ended early by the server"
    )
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(outcome.statuses.items()))
    lines.append(
        f"runs: {outcome.runs_seeded} seeded + {outcome.runs_submitted} submitted by clients; "
        f"{outcome.completed_under_load} completed during the load; then every live run "
        f"reached its gate and was answered Done in {outcome.drain_s:.1f} s: "
        f"{statuses or 'none'}"
    )
    lines.append(
        f'"{LOCKED}": {tally.locked_responses} in responses, {outcome.log_locked} in the '
        f"server log; tracebacks in the server log: {outcome.log_tracebacks}; "
        f"WARNING/ERROR lines: {len(outcome.log_errors)}; "
        f"server exit status: {outcome.server_exit}"
    )
    problems = outcome.problems(tally)
    for sample in tally.error_samples:
        lines.append(f"  error: {sample}")
    for message in outcome.failed_messages[:10]:
        lines.append(f"  failed run: {message}")
    for run in outcome.stuck[:10]:
        lines.append(f"  stuck run: {run}")
    for line in outcome.log_errors[:10]:
        lines.append(f"  server log: {line}")
    lines.append("FAIL: " + "; ".join(problems) if problems else "PASS")
    return "\n".join(lines), not problems
