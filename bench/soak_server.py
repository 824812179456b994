"""The `fabro serve` under soak: its configuration, its processes, and what it leaves behind."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

from bench.loadgen import UNLIMITED_RATES, ServerProc, child_env, free_port, python_command, spawn

LOG_PATTERNS = ("database is locked", "Traceback", " ERROR ")
# The soak's policy allows what its command stages run, `sleep N; echo NODE >> WITNESS`, and
# nothing else: a configured policy blocks what no rule allows.
POLICY_RULES = frozenset({"soak-sleep", "soak-echo", "soak-witness"})


def policy(witness_dir: Path) -> str:
    """The [policy] of the soak's server.toml (``witness_dir``: where the echoes write)."""
    witness = json.dumps(f"{witness_dir}/*")  # a TOML basic string
    return (
        "[policy]\n"
        '[[policy.rules]]\nname = "soak-sleep"\ndecision = "allow"\n'
        'kinds = ["command"]\nprogram = "sleep"\n'
        '[[policy.rules]]\nname = "soak-echo"\ndecision = "allow"\n'
        'kinds = ["command"]\nprogram = "echo"\n'
        '[[policy.rules]]\nname = "soak-witness"\ndecision = "allow"\n'
        f'kinds = ["file_write"]\npaths = [{witness}]\n'
    )


def configure(base: Path, user: str, *, max_concurrent_runs: int) -> None:
    """``base/server.toml``: JWT authentication for ``user``, room for every run in flight,
    a policy that allows the soak's command stages (their witness files in ``base/witness``)."""
    (base / "server.toml").write_text(
        f"max_concurrent_runs = {max_concurrent_runs}\n"
        '[api]\nauthentication_strategies = ["jwt"]\n'
        f'[web.auth]\nallowed_usernames = ["{user}"]\n'
        + UNLIMITED_RATES
        + policy(base / "witness"),
        encoding="utf-8",
    )


def start(base: Path, data_dir: Path, number: int) -> ServerProc:
    """Server number ``number`` on ``data_dir`` and a fresh port; logs in ``base/logs``."""
    port = free_port()
    command = python_command("-m", "fabro", "serve", "--host", "127.0.0.1")
    command += ["--port", str(port), "--config", str(base / "server.toml")]
    command += ["--data-dir", str(data_dir)]
    return spawn(f"server{number:03d}", command, base / "logs", child_env(base / "home"), port)


def process(pid: int, parent: int | None = None) -> tuple[bool, str]:
    """(alive and not a zombie, and a child of ``parent`` when given; its command line)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return False, ""
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    alive = state != "Z" and (parent is None or int(ppid) == parent)
    return alive, cmdline.strip()


def commands_of(parent: int, marker: str) -> dict[int, str]:
    """Command stages running as children of ``parent`` whose command line has ``marker``."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            alive, cmdline = process(int(proc.name), parent)
            if alive and marker in cmdline:
                found[int(proc.name)] = cmdline
    return found


def database_problems(data_dir: Path, run_ids: set[str]) -> tuple[str, list[str]]:
    """`PRAGMA integrity_check`, and what is wrong once every run has finished: runs other
    than ``run_ids`` (a POST retried after a crash must find its run by Idempotency-Key),
    stage rows not completed (a re-run stage keeps its one row), questions still pending."""
    with contextlib.closing(sqlite3.connect(data_dir / "fabro.db")) as conn:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        dangling = conn.execute("PRAGMA foreign_key_check").fetchall()
        stored = {row[0] for row in conn.execute("SELECT id FROM runs")}
        unfinished = conn.execute(
            "SELECT run_id, stage_id, status FROM stages WHERE status != 'completed'"
        ).fetchall()
        pending = conn.execute("SELECT run_id, qid FROM questions WHERE status = 'pending'")
        pending_rows = pending.fetchall()
    integrity = "; ".join(str(row[0]) for row in rows)
    problems = [] if integrity == "ok" else [f"integrity_check: {integrity[:500]}"]
    if dangling:
        problems.append(f"foreign_key_check: {dangling[:10]}")
    if stored != run_ids:
        problems.append(
            f"{len(stored)} runs stored, {len(run_ids)} created; "
            f"unknown: {sorted(stored - run_ids)[:10]}, missing: {sorted(run_ids - stored)[:10]}"
        )
    problems += [f"stage row {r}/{s} is {status}" for r, s, status in unfinished[:20]]
    problems += [f"question {r}/{q} is still pending" for r, q in pending_rows[:20]]
    return integrity, problems


def log_problems(log_dir: Path) -> list[str]:
    """Each server log containing "database is locked", a traceback or an ERROR line."""
    problems = []
    for path in sorted(log_dir.glob("*.log")):
        text = path.read_text(errors="replace")
        for pattern in LOG_PATTERNS:
            if pattern in text:
                at = text.index(pattern)
                excerpt = text[max(at - 300, 0) : at + 700]
                problems.append(f"{path.name} contains {pattern.strip()!r}:\n{excerpt}")
    return problems
