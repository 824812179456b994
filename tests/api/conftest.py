"""API test hooks: the one line that says the original-document walkthrough did not run."""

from __future__ import annotations

import pytest

ORIGINAL_MISSING_MARK = "original OpenAPI document not found"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # tests/api/test_original_client.py skips itself without the document; say so once, even
    # without `-rs`, so a run that did not check the original's clients does not look as if
    # it had.
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        if ORIGINAL_MISSING_MARK in reason:
            terminalreporter.write_line(reason.removeprefix("Skipped: "))
            return
