"""Edge labels as human-gate options and as routing targets.

`option_key` derives the accelerator key of a human-gate option (api.md §6.9); `normalize_label`
is the comparison form used to match an outcome's `preferred_label` (workflow-language.md §12.1).
The engine and the API both build questions with `gate_options`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabro.workflow.conditions import condition_holds
from fabro.workflow.model import Edge, Graph


@dataclass(frozen=True, slots=True)
class GateOption:
    """One answer of a human gate: its key, its label and the edge it selects."""

    key: str
    label: str
    edge: Edge


@dataclass(frozen=True, slots=True)
class GateOptions:
    """The options of a human node, and the free-text edge when there is one."""

    options: tuple[GateOption, ...]
    freeform_edge: Edge | None

    @property
    def allow_freeform(self) -> bool:
        """A free-text answer is accepted."""
        return self.freeform_edge is not None

    def find(self, key: str) -> GateOption | None:
        """The first option with this key (keys may repeat; the first wins)."""
        return next((option for option in self.options if option.key == key), None)


def option_label(edge: Edge) -> str:
    """The edge label, or the target id when the label is missing or blank."""
    label = edge.label
    return label if label and label.strip() else edge.target


def option_key(label: str) -> str:
    """`[A] Approve` -> `A`, `A) Approve` -> `A`, `A - Approve` -> `A`, else the first character."""
    text = label.strip()
    if text.startswith("["):
        close = text.find("]")
        if close > 1:
            return text[1:close]
    paren = text.find(")")
    if paren in (1, 2, 3) and text[:paren].isalnum():
        return text[:paren]
    dash = text.find(" - ")
    if dash in (1, 2, 3) and text[:dash].isalnum():
        return text[:dash]
    return text[:1]


def normalize_label(label: str) -> str:
    """Trim, lowercase, strip one accelerator prefix (`[x] `, `x) `, `x - `)."""
    text = label.strip().lower()
    if text.startswith("[") and "]" in text:
        return text[text.index("]") + 1 :].lstrip()
    if text[1:2] == ")":
        return text[2:].lstrip()
    if text[1:4] == " - ":
        return text[4:].lstrip()
    return text


def gate_options(graph: Graph, node_id: str) -> GateOptions:
    """Options for a human node: one per outgoing edge without `freeform=true`, in source order.

    An edge taken only when the gate fails (`condition="outcome=fail"`) is where an unanswered
    gate goes (engine.md §9.4), not an answer a person could pick.
    """
    options: list[GateOption] = []
    freeform: Edge | None = None
    for edge in graph.outgoing(node_id):
        if edge.freeform:
            freeform = freeform or edge
            continue
        if _only_on_failure(edge):
            continue
        label = option_label(edge)
        options.append(GateOption(option_key(label), label, edge))
    return GateOptions(tuple(options), freeform)


def _only_on_failure(edge: Edge) -> bool:
    if not edge.is_conditional:
        return False
    failed = condition_holds(edge.condition, {"outcome": "fail"}, {})
    return failed and not condition_holds(edge.condition, {"outcome": "success"}, {})
