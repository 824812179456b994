"""The engine's durable state: everything a checkpoint holds (api.md §6.6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fabro.storage.tracked import TrackedDict, TrackedList
from fabro.workflow.model import Graph

if TYPE_CHECKING:
    from fabro.engine.preamble import PreambleLog


@dataclass
class EngineState:
    """The maps are ``TrackedDict``s and the lists ``TrackedList``s (plain ones work too, only
    slower to checkpoint): the per-stage commit then writes only what a stage set or added
    (storage/checkpoints.py)."""

    context: dict[str, Any] = field(default_factory=TrackedDict)
    logs: list[str] = field(default_factory=TrackedList)
    completed_nodes: list[str] = field(default_factory=TrackedList)
    node_outcomes: dict[str, dict[str, Any]] = field(default_factory=TrackedDict)
    node_retries: dict[str, int] = field(default_factory=TrackedDict)
    node_visits: dict[str, int] = field(default_factory=TrackedDict)
    loop_failure_signatures: dict[str, int] = field(default_factory=TrackedDict)
    restart_failure_signatures: dict[str, int] = field(default_factory=TrackedDict)
    current_node: str | None = None  # the node whose completion produced the checkpoint
    next_node_id: str | None = None
    # What the preambles show of the run, kept as stages complete (preamble.py); derived,
    # never checkpointed.
    preamble_log: PreambleLog | None = field(default=None, repr=False, compare=False)

    @classmethod
    def fresh(cls, graph: Graph, run_id: str, work_dir: str) -> EngineState:
        """A new run (or a loop restart): graph attributes, run id, working directory."""
        state = cls()
        state.reset_context(graph, run_id, work_dir)
        return state

    def reset_context(self, graph: Graph, run_id: str, work_dir: str) -> None:
        self.context = TrackedDict(
            {
                **graph.context_attrs(),
                "internal.run_id": run_id,
                "internal.work_dir": work_dir,
            }
        )
        if not graph.goal:
            self.context.pop("graph.goal", None)
        self.logs = TrackedList()

    @property
    def stage_index(self) -> int:
        """Stages recorded since the run (or the last loop restart) began."""
        return len(self.completed_nodes)

    def checkpoint(self, timestamp: str) -> dict[str, Any]:
        """The checkpoint JSON; optional maps are omitted when empty.

        It shares the state's containers (no copy, so a TrackedDict's change log stays with
        it): serialize or diff it before the state changes again.
        """
        data: dict[str, Any] = {
            "timestamp": timestamp,
            "current_node": self.current_node or "",
            "completed_nodes": self.completed_nodes,
            "node_retries": self.node_retries,
            "context_values": self.context,
            "logs": self.logs,
        }
        optional: dict[str, Any] = {
            "node_outcomes": self.node_outcomes,
            "next_node_id": self.next_node_id,
            "loop_failure_signatures": self.loop_failure_signatures,
            "restart_failure_signatures": self.restart_failure_signatures,
            "node_visits": self.node_visits,
        }
        data.update({key: value for key, value in optional.items() if value})
        return data

    @classmethod
    def from_checkpoint(cls, data: Mapping[str, Any]) -> EngineState:
        return cls(
            context=TrackedDict(data.get("context_values", {})),
            logs=TrackedList(data.get("logs", [])),
            completed_nodes=TrackedList(data.get("completed_nodes", [])),
            node_outcomes=TrackedDict(data.get("node_outcomes", {})),
            node_retries=TrackedDict(data.get("node_retries", {})),
            node_visits=TrackedDict(data.get("node_visits", {})),
            loop_failure_signatures=TrackedDict(data.get("loop_failure_signatures", {})),
            restart_failure_signatures=TrackedDict(data.get("restart_failure_signatures", {})),
            current_node=data.get("current_node") or None,
            next_node_id=data.get("next_node_id"),
        )
