"""Errors raised by the workflow package.

Parse errors point at the source (`file:line:col: message`); Graphviz errors carry the exact
502 details of api.md §6.11 so the API can render them unchanged.
"""

from __future__ import annotations

from fabro.errors import BadGateway, BadRequest


class WorkflowError(Exception):
    """Base of the errors of fabro.workflow (other than Graphviz problems)."""


class DotParseError(WorkflowError):
    """The DOT text does not follow the grammar of workflow-language.md §2-§3."""

    def __init__(self, message: str, line: int, col: int, file: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col
        self.file = file

    @property
    def location(self) -> str:
        """`line:col: message`, the form used by the API (`Parse error: L:C: msg`)."""
        return f"{self.line}:{self.col}: {self.message}"

    def with_file(self, file: str | None) -> DotParseError:
        """A copy of this error naming `file`."""
        return DotParseError(self.message, self.line, self.col, file)

    def __str__(self) -> str:
        if self.file:
            return f"{self.file}:{self.line}:{self.col}: {self.message}"
        return self.location


class ConditionSyntaxError(WorkflowError):
    """An edge condition does not parse; `col` is the 1-based column in the condition text."""

    def __init__(self, message: str, col: int) -> None:
        super().__init__(message)
        self.message = message
        self.col = col


class StylesheetSyntaxError(WorkflowError):
    """The `model_stylesheet` graph attribute does not parse."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class WorkflowSourceError(WorkflowError):
    """A workflow argument cannot be resolved to a DOT file (the CLI exits 2)."""


class WorkflowInputError(BadRequest, WorkflowError):
    """A workflow or its values over a limit, or a value that cannot be placed safely.

    A 400 in the API (its detail names the text and the limit or rule); the CLI reports it.
    """


class GraphvizError(BadGateway):
    """Rendering with Graphviz failed; `detail` is the message shown to users."""


class DotNotAvailableError(GraphvizError):
    """The `dot` program cannot be started."""

    def __init__(self) -> None:
        super().__init__("Graphviz dot command not available.")


class DotFailedError(GraphvizError):
    """`dot` exited with a non-zero status."""

    def __init__(self, stderr: str) -> None:
        super().__init__(f"dot failed: {stderr.strip()}")


class DotTimeoutError(GraphvizError):
    """`dot` ran past the time limit and was killed."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"Graphviz dot timed out after {timeout_s:g}s.")
