"""One handler per node kind, registered by kind (workflow-language.md §5)."""

from __future__ import annotations

from fabro.engine.handlers.command import command
from fabro.engine.handlers.fan_in import fan_in
from fabro.engine.handlers.human import human
from fabro.engine.handlers.llm import agent, prompt
from fabro.engine.handlers.manager import manager_loop
from fabro.engine.handlers.parallel import parallel
from fabro.engine.handlers.simple import conditional, start
from fabro.engine.handlers.wait import wait
from fabro.engine.stage import StageHandler
from fabro.workflow import kinds

HANDLERS: dict[str, StageHandler] = {
    kinds.START: start,
    kinds.CONDITIONAL: conditional,
    kinds.COMMAND: command,
    kinds.HUMAN: human,
    kinds.AGENT: agent,
    kinds.PROMPT: prompt,
    kinds.PARALLEL: parallel,
    kinds.FAN_IN: fan_in,
    kinds.WAIT: wait,
    kinds.MANAGER: manager_loop,
}
