"""Validation diagnostics (workflow-language.md §11) and their text and JSON forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

ERROR: Final = "error"
WARNING: Final = "warning"
INFO: Final = "info"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding: the rule that made it, its severity, a message and what it points at."""

    rule: str
    severity: str
    message: str
    node_id: str | None = None
    edge: tuple[str, str] | None = None
    line: int | None = None  # parse errors only
    col: int | None = None

    @property
    def is_error(self) -> bool:
        """Severity `error`: the workflow cannot run."""
        return self.severity == ERROR

    def to_json(self) -> dict[str, Any]:
        """`{rule, severity, message, node_id?, edge?: {from, to}, line?, col?}`."""
        data: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
        }
        if self.node_id is not None:
            data["node_id"] = self.node_id
        if self.edge is not None:
            data["edge"] = {"from": self.edge[0], "to": self.edge[1]}
        if self.line is not None:
            data["line"] = self.line
            data["col"] = self.col
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Diagnostic:
        """Inverse of `to_json`."""
        edge = data.get("edge")
        return cls(
            rule=data["rule"],
            severity=data["severity"],
            message=data["message"],
            node_id=data.get("node_id"),
            edge=(edge["from"], edge["to"]) if edge else None,
            line=data.get("line"),
            col=data.get("col"),
        )

    def format(self) -> str:
        """`error [node: X]: <message> (<rule>)`, the CLI's line for this diagnostic."""
        where = ""
        if self.node_id is not None:
            where = f" [node: {self.node_id}]"
        elif self.edge is not None:
            where = f" [edge: {self.edge[0]} -> {self.edge[1]}]"
        return f"{self.severity}{where}: {self.message} ({self.rule})"
