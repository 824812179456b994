"""A workflow node (stage) with typed accessors for the attributes of §6.3 and §6.4."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fabro.workflow import kinds
from fabro.workflow.attributes import secret_names, to_int
from fabro.workflow.value import JSON, Attributed, Attrs, attrs_from_json, attrs_json


@dataclass(eq=True)
class Node(Attributed):
    """A stage: its id, raw attributes, derived classes and where it first appeared."""

    id: str
    attrs: Attrs = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    line: int = 0
    col: int = 0

    # --- identity and kind (§5) ---
    @property
    def label(self) -> str:
        """Display text; defaults to the id."""
        return self.get("label") or self.id

    @property
    def shape(self) -> str:
        """Graphviz shape; default `box`."""
        return self.get("shape") or "box"

    @property
    def type(self) -> str | None:
        """The explicit `type` attribute (after the `codergen_mode` alias), if any."""
        return self._text("type")

    @property
    def kind(self) -> str:
        """The canonical handler kind (`fabro.workflow.kinds`) that runs this node."""
        return kinds.handler_kind(self.id, self.shape, self.type)

    @property
    def is_start_candidate(self) -> bool:
        """Start node for validation: shape Mdiamond or id start/Start."""
        return kinds.is_start_candidate(self.id, self.shape)

    @property
    def is_terminal(self) -> bool:
        """Terminal node: shape Msquare, type exit or id exit/Exit/end/End."""
        return kinds.is_terminal(self.id, self.shape, self.type)

    # --- all kinds (§6.3) ---
    @property
    def timeout_ms(self) -> int | None:
        """Limit per attempt; command nodes default to 600 s, others to none."""
        timeout = self._duration_ms("timeout")
        if timeout is None and self.kind == kinds.COMMAND:
            return 600_000
        return timeout

    @property
    def max_visits(self) -> int:
        """Visit limit; 0 means off."""
        return self._int("max_visits", 0, 0)

    @property
    def max_retries(self) -> int | None:
        """Retries for this stage; None means the graph's `default_max_retry`."""
        value = self.attrs.get("max_retries")
        return None if value is None else to_int(value, 0)

    @property
    def retry_policy(self) -> str | None:
        """Named retry preset (`none`, `standard`, ...), if set."""
        return self._text("retry_policy")

    @property
    def retry_target(self) -> str | None:
        """Node to jump to when this stage fails or its goal gate is unsatisfied."""
        return self._text("retry_target")

    @property
    def fallback_retry_target(self) -> str | None:
        """Second choice after `retry_target`."""
        return self._text("fallback_retry_target")

    @property
    def goal_gate(self) -> bool:
        """Must succeed before the run may complete."""
        return self._bool("goal_gate", False)

    @property
    def auto_status(self) -> bool:
        """Non-success outcomes become success."""
        return self._bool("auto_status", False)

    @property
    def allow_partial(self) -> bool:
        """Exhausted `retry` outcomes become partial_success."""
        return self._bool("allow_partial", False)

    @property
    def fidelity(self) -> str | None:
        """Context fidelity mode for this node (§15)."""
        return self._text("fidelity")

    @property
    def thread_id(self) -> str | None:
        """Conversation thread id (§15)."""
        return self._text("thread_id")

    # --- LLM stages (§6.4) ---
    @property
    def prompt(self) -> str:
        """Task text: a non-empty `prompt`, else the label."""
        return self._text("prompt") or self.label

    @property
    def llm_model(self) -> str | None:
        """Model for this stage (after the stylesheet)."""
        return self._text("llm_model")

    @property
    def llm_provider(self) -> str | None:
        """Provider for this stage (after the stylesheet)."""
        return self._text("llm_provider")

    @property
    def reasoning_effort(self) -> str:
        """`low`, `medium` or `high` (default)."""
        return self._text("reasoning_effort") or "high"

    @property
    def max_tokens(self) -> int | None:
        """Output token cap per call; None means the model's."""
        value = self.attrs.get("max_tokens")
        return None if value is None else to_int(value, 1)

    @property
    def max_turns(self) -> int:
        """Model calls per agent stage (legacy `max_agent_turns`); default 50."""
        key = "max_turns" if "max_turns" in self.attrs else "max_agent_turns"
        return self._int(key, 50, 1)

    @property
    def project_memory(self) -> bool:
        """Include AGENTS.md / CLAUDE.md in the system prompt; default true."""
        return self._bool("project_memory", True)

    @property
    def backend(self) -> str:
        """Accepted and ignored; default `api`."""
        return self._text("backend") or "api"

    # --- command, human, parallel, wait, manager (§6.4) ---
    @property
    def script(self) -> str | None:
        """Program text of a command node (legacy `tool_command`)."""
        if "script" in self.attrs:
            return self.get("script")
        return self.get("tool_command")

    @property
    def language(self) -> str:
        """`shell` (default) or `python`."""
        return self._text("language") or "shell"

    @property
    def idempotent(self) -> bool:
        """A command that is safe to run again after a crash interrupted it; default true.
        false: a receipt that shows it ran stops a second run (docs/governance.md)."""
        return self._bool("idempotent", True)

    @property
    def secrets(self) -> list[str]:
        """fabro: the secrets this stage receives as environment variables (`secrets="A, B"`),
        besides the graph's; a command or agent stage fails if one is not set."""
        return secret_names(self.get("secrets"))

    @property
    def human_default_choice(self) -> str | None:
        """Target node used when a human question times out."""
        return self._text("human.default_choice")

    @property
    def join_policy(self) -> str:
        """Parallel join policy text; default `wait_all`."""
        return self._text("join_policy") or "wait_all"

    @property
    def error_policy(self) -> str:
        """Parallel error policy; default `continue`."""
        return self._text("error_policy") or "continue"

    @property
    def max_parallel(self) -> int:
        """Concurrent parallel branches; default 4."""
        return self._int("max_parallel", 4, 1)

    @property
    def duration_ms(self) -> int | None:
        """Sleep length of a wait node."""
        return self._duration_ms("duration")

    @property
    def child_dotfile(self) -> str | None:
        """Child workflow file of a manager node."""
        return self._text("stack.child_dotfile")

    @property
    def child_dot_source(self) -> str | None:
        """Inline child DOT of a manager node."""
        return self._text("stack.child_dot_source")

    @property
    def manager_poll_interval_ms(self) -> int:
        """Manager poll period; default 45 s."""
        interval = self._duration_ms("manager.poll_interval")
        return 45_000 if interval is None else interval

    @property
    def manager_max_cycles(self) -> int:
        """Manager polls before giving up; default 1000."""
        return self._int("manager.max_cycles", 1000, 1)

    @property
    def manager_stop_condition(self) -> str | None:
        """Condition (§7) on the parent context that stops the child."""
        return self._text("manager.stop_condition")

    def to_json(self) -> JSON:
        """Serializable form."""
        return {
            "id": self.id,
            "attrs": attrs_json(self.attrs),
            "classes": list(self.classes),
            "line": self.line,
            "col": self.col,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Node:
        """Inverse of `to_json`."""
        return cls(
            id=data["id"],
            attrs=attrs_from_json(data["attrs"]),
            classes=list(data["classes"]),
            line=data["line"],
            col=data["col"],
        )
