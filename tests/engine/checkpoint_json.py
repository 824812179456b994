"""The checkpoint JSON of api.md §6.6 built straight from an engine state: the oracle the
checkpoint storage tests compare what they read back with (storage builds it another way)."""

from __future__ import annotations

from typing import Any

from fabro.engine.state import EngineState


def checkpoint_json(state: EngineState, timestamp: str) -> dict[str, Any]:
    """The checkpoint JSON; optional maps are omitted when empty."""
    data: dict[str, Any] = {
        "timestamp": timestamp,
        "current_node": state.current_node or "",
        "completed_nodes": state.completed_nodes,
        "node_retries": state.node_retries,
        "context_values": state.context,
        "logs": state.logs,
    }
    optional: dict[str, Any] = {
        "node_outcomes": state.node_outcomes,
        "next_node_id": state.next_node_id,
        "loop_failure_signatures": state.loop_failure_signatures,
        "restart_failure_signatures": state.restart_failure_signatures,
        "node_visits": state.node_visits,
    }
    data.update({key: value for key, value in optional.items() if value})
    return data
