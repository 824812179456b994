"""The engine's durable state: everything a checkpoint holds (api.md §6.6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fabro.engine.delta import LIST_SECTIONS, MAP_SECTIONS, StateDelta
from fabro.workflow.model import Graph

if TYPE_CHECKING:
    from fabro.engine.preamble import PreambleLog


@dataclass
class EngineState:
    """Plain maps and lists, changed only by ``apply``: every change is a ``StateDelta``."""

    context: dict[str, Any] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    completed_nodes: list[str] = field(default_factory=list)
    node_outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    node_retries: dict[str, int] = field(default_factory=dict)
    node_visits: dict[str, int] = field(default_factory=dict)
    loop_failure_signatures: dict[str, int] = field(default_factory=dict)
    restart_failure_signatures: dict[str, int] = field(default_factory=dict)
    current_node: str | None = None  # the node whose completion produced the checkpoint
    next_node_id: str | None = None
    # What the preambles show of the run, kept as stages complete (preamble.py); derived,
    # never checkpointed.
    preamble_log: PreambleLog | None = field(default=None, repr=False, compare=False)

    @classmethod
    def fresh(cls, graph: Graph, run_id: str, work_dir: str) -> EngineState:
        """A new run: graph attributes, run id, working directory."""
        state = cls()
        state.apply(cls.restart(graph, run_id, work_dir))
        return state

    @staticmethod
    def restart(graph: Graph, run_id: str, work_dir: str) -> StateDelta:
        """The delta of a new run or a loop restart: a fresh context and log, no stages."""
        context = {
            **graph.context_attrs(),
            "internal.run_id": run_id,
            "internal.work_dir": work_dir,
        }
        if not graph.goal:
            context.pop("graph.goal", None)
        delta = StateDelta.of(context=context)
        delta.replaced = {"context_values", "logs", "completed_nodes", "node_outcomes"}
        return delta

    def apply(self, delta: StateDelta) -> None:
        """Make the changes of ``delta``. A replaced section gets a new container (the preamble
        log follows the lists it has seen by identity)."""
        for name in delta.replaced:
            setattr(self, _ATTRIBUTES[name], {} if name in MAP_SECTIONS else [])
        for name, values in delta.maps.items():
            getattr(self, _ATTRIBUTES[name]).update(values)
        for name, items in delta.lists.items():
            getattr(self, _ATTRIBUTES[name]).extend(items)

    def sections(self) -> dict[str, Any]:
        """The checkpoint's maps and lists, by checkpoint key (the state's own containers)."""
        return {name: getattr(self, _ATTRIBUTES[name]) for name in MAP_SECTIONS + LIST_SECTIONS}

    @property
    def stage_index(self) -> int:
        """Stages recorded since the run (or the last loop restart) began."""
        return len(self.completed_nodes)

    @classmethod
    def from_checkpoint(cls, data: Mapping[str, Any]) -> EngineState:
        state = cls(
            current_node=data.get("current_node") or None,
            next_node_id=data.get("next_node_id"),
        )
        state.apply(StateDelta.whole(data))
        return state


# Checkpoint key -> EngineState attribute.
_ATTRIBUTES = {
    **{name: name for name in MAP_SECTIONS + LIST_SECTIONS},
    "context_values": "context",
}
