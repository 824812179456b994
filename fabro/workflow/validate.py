"""Validation rules (workflow-language.md §11): one function per rule, listed in `RULES`.

Rules 7-22 and 24 are here, and the graph's shape (rules 1-6 and 23) in `rules_structure`;
fabro's rules 25-30, for what would otherwise run silently the wrong way, are in
`rules_attributes` and `rules_routing`.

Each rule takes a `Subject` (the prepared graph plus what preparation learned) and yields
diagnostics; rules run in the order of `RULES`, and within a rule items come in node order
(graph-level items first, edges in source order). No rule raises on a graph the parser built.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from fabro.workflow import kinds
from fabro.workflow.attributes import EDGE_TYPES, GRAPH_TYPES, NODE_TYPES, type_error
from fabro.workflow.catalog import MODEL_NAMES, PROVIDER_NAMES, PROVIDERS_MESSAGE
from fabro.workflow.conditions import parse_condition
from fabro.workflow.diagnostics import ERROR, WARNING, Diagnostic
from fabro.workflow.errors import ConditionSyntaxError, StylesheetSyntaxError
from fabro.workflow.model import Edge, Graph, Node
from fabro.workflow.rules_attributes import (
    attribute_known,
    script_on_command_nodes,
    secret_names_valid,
    shape_known,
)
from fabro.workflow.rules_routing import (
    failure_falls_through,
    outcome_value,
    unconditional_edge_count,
)
from fabro.workflow.rules_structure import (
    dead_end,
    edge_target_exists,
    exit_no_outgoing,
    reachability,
    start_no_incoming,
    start_node,
    terminal_node,
)
from fabro.workflow.stylesheet import Rule, parse_stylesheet
from fabro.workflow.variables import UndefinedVariable

FIDELITY_MODES = frozenset(
    {"full", "truncate", "compact", "summary:low", "summary:medium", "summary:high"}
)
RANKDIRS = frozenset({"TB", "LR", "BT", "RL"})
RESERVED_IDS = frozenset({"graph", "digraph", "subgraph", "node", "edge", "strict", "if"})
_ABSOLUTE_CD = re.compile(r"cd\s+/")


@dataclass
class Subject:
    """What the rules look at: the prepared graph and facts gathered while preparing it."""

    graph: Graph
    undefined: Sequence[UndefinedVariable] = ()
    model_names: frozenset[str] = MODEL_NAMES
    stylesheet: list[Rule] = field(default_factory=list)
    stylesheet_error: str | None = None

    def __post_init__(self) -> None:
        text = self.graph.get("model_stylesheet")
        if text is not None and not self.stylesheet:
            try:
                self.stylesheet = parse_stylesheet(text)
            except StylesheetSyntaxError as exc:
                self.stylesheet_error = exc.message


Diagnostics = Iterator[Diagnostic]


def _node_error(rule: str, node: Node, message: str) -> Diagnostic:
    return Diagnostic(rule, ERROR, message, node_id=node.id)


def _node_warning(rule: str, node: Node, message: str) -> Diagnostic:
    return Diagnostic(rule, WARNING, message, node_id=node.id)


def _edge_diagnostic(rule: str, severity: str, edge: Edge, message: str) -> Diagnostic:
    return Diagnostic(rule, severity, message, edge=(edge.source, edge.target))


# 7
def condition_syntax(s: Subject) -> Diagnostics:
    """Every non-empty edge condition parses."""
    for edge in s.graph.edges:
        if not edge.is_conditional:
            continue
        try:
            parse_condition(edge.condition)
        except ConditionSyntaxError as exc:
            message = (
                f"Condition '{edge.get('condition')}' on edge {edge.describe()} "
                f"failed parse: {exc.message}"
            )
            yield _edge_diagnostic("condition_syntax", ERROR, edge, message)


# 8
def stylesheet_syntax(s: Subject) -> Diagnostics:
    """`model_stylesheet` parses."""
    if s.stylesheet_error is not None:
        message = f"Model stylesheet parse error: {s.stylesheet_error}"
        yield Diagnostic("stylesheet_syntax", ERROR, message)


# 9
def type_known(s: Subject) -> Diagnostics:
    """An explicit `type` is one the engine knows."""
    for node in s.graph.nodes.values():
        type_ = node.type
        if type_ is not None and type_ not in kinds.TYPE_KINDS:
            yield _node_warning(
                "type_known", node, f"Node '{node.id}' has unrecognized type '{type_}'"
            )


# 10
def fidelity_valid(s: Subject) -> Diagnostics:
    """Fidelity modes are ones of §15."""
    default = s.graph.get("default_fidelity")
    if default is not None and default not in FIDELITY_MODES:
        yield Diagnostic(
            "fidelity_valid", WARNING, f"Graph has invalid default_fidelity '{default}'"
        )
    for node in s.graph.nodes.values():
        mode = node.get("fidelity")
        if mode is not None and mode not in FIDELITY_MODES:
            message = f"Node '{node.id}' has invalid fidelity mode '{mode}'"
            yield _node_warning("fidelity_valid", node, message)
    for edge in s.graph.edges:
        mode = edge.get("fidelity")
        if mode is not None and mode not in FIDELITY_MODES:
            message = f"Edge {edge.describe()} has invalid fidelity mode '{mode}'"
            yield _edge_diagnostic("fidelity_valid", WARNING, edge, message)


# 11
def retry_target_exists(s: Subject) -> Diagnostics:
    """Retry targets name existing nodes."""
    nodes = s.graph.nodes
    for key in ("retry_target", "fallback_retry_target"):
        target = s.graph.get(key)
        if target is not None and target not in nodes:
            message = f"Graph has {key} '{target}' that does not exist"
            yield Diagnostic("retry_target_exists", WARNING, message)
    for node in nodes.values():
        for key in ("retry_target", "fallback_retry_target"):
            target = node.get(key)
            if target is not None and target not in nodes:
                message = f"Node '{node.id}' has {key} '{target}' that does not exist"
                yield _node_warning("retry_target_exists", node, message)


# 12
def goal_gate_has_retry(s: Subject) -> Diagnostics:
    """A goal gate has somewhere to go back to."""
    graph = s.graph
    graph_target = graph.retry_target or graph.fallback_retry_target
    for node in graph.nodes.values():
        if node.goal_gate and not (graph_target or node.retry_target or node.fallback_retry_target):
            message = (
                f"Node '{node.id}' has goal_gate=true but no retry_target or fallback_retry_target"
            )
            yield _node_warning("goal_gate_has_retry", node, message)


# 13
def prompt_on_llm_nodes(s: Subject) -> Diagnostics:
    """LLM stages have a prompt or a label."""
    for node in s.graph.nodes.values():
        if node.kind in kinds.LLM_KINDS and not (node.get("prompt") or node.get("label")):
            message = f"LLM node '{node.id}' has no prompt or label attribute"
            yield _node_warning("prompt_on_llm_nodes", node, message)


# 14
def freeform_edge_count(s: Subject) -> Diagnostics:
    """A human gate has at most one free-text edge."""
    for node in s.graph.nodes.values():
        if node.kind != kinds.HUMAN:
            continue
        count = sum(1 for edge in s.graph.outgoing(node.id) if edge.freeform)
        if count > 1:
            message = (
                f"wait.human node '{node.id}' has {count} freeform edges but at most one is allowed"
            )
            yield _node_error("freeform_edge_count", node, message)


# 15
def direction_valid(s: Subject) -> Diagnostics:
    """`rankdir` is TB, LR, BT or RL."""
    rankdir = s.graph.get("rankdir")
    if rankdir is not None and rankdir not in RANKDIRS:
        yield Diagnostic("direction_valid", WARNING, f"Graph has invalid rankdir '{rankdir}'")


# 16
def reserved_keyword_node_id(s: Subject) -> Diagnostics:
    """Node ids are not DOT keywords."""
    for node in s.graph.nodes.values():
        if node.id.lower() in RESERVED_IDS:
            message = (
                f"Node ID '{node.id}' is a DOT reserved keyword and may cause parsing failures"
            )
            yield _node_warning("reserved_keyword_node_id", node, message)


# 17
def all_conditional_edges(s: Subject) -> Diagnostics:
    """A node with outgoing edges has an unconditional one."""
    for node in s.graph.nodes.values():
        edges = s.graph.outgoing(node.id)
        if edges and all(edge.is_conditional for edge in edges):
            message = (
                f"Node '{node.id}' has all conditional outgoing edges "
                "with no unconditional fallback"
            )
            yield _node_error("all_conditional_edges", node, message)


# 18
def orphan_custom_outcome(s: Subject) -> Diagnostics:
    """Outcome-based routing comes with an unconditional fallback."""
    for node in s.graph.nodes.values():
        edges = s.graph.outgoing(node.id)
        if any(not edge.is_conditional for edge in edges):
            continue
        if any(_routes_on_outcome(edge.condition) for edge in edges):
            message = (
                f"Node '{node.id}' uses outcome-based routing "
                "but has no unconditional fallback edge"
            )
            yield _node_warning("orphan_custom_outcome", node, message)


def _routes_on_outcome(condition: str) -> bool:
    return any(part.strip().startswith("outcome=") for part in condition.split("&&"))


# 19
def script_absolute_cd(s: Subject) -> Diagnostics:
    """Command scripts do not `cd` to an absolute path."""
    for node in s.graph.nodes.values():
        if node.kind == kinds.COMMAND and _ABSOLUTE_CD.search(node.script or ""):
            message = f"Script node '{node.id}' contains `cd /…` with an absolute path"
            yield _node_warning("script_absolute_cd", node, message)


# 20
def stylesheet_model_known(s: Subject) -> Diagnostics:
    """Stylesheet models and providers are known names."""
    for rule in s.stylesheet:
        for prop, value in rule.declarations:
            if prop == "llm_model" and value not in s.model_names:
                message = (
                    f"Unknown model '{value}' in stylesheet rule '{rule.selector}'; "
                    "see GET /models for known models"
                )
                yield Diagnostic("stylesheet_model_known", WARNING, message)
            elif prop == "llm_provider" and value not in PROVIDER_NAMES:
                message = (
                    f"Unknown provider '{value}' in stylesheet rule '{rule.selector}'. "
                    f"Valid providers: {PROVIDERS_MESSAGE}"
                )
                yield Diagnostic("stylesheet_model_known", WARNING, message)


# 21
def unresolved_file_ref(s: Subject) -> Diagnostics:
    """No goal or prompt still reads `@path`."""
    goal = s.graph.get("goal")
    if goal is not None and goal.startswith("@"):
        message = f"Graph goal has unresolved file reference: {goal}"
        yield Diagnostic("unresolved_file_ref", ERROR, message)
    for node in s.graph.nodes.values():
        prompt = node.get("prompt")
        if prompt is not None and prompt.startswith("@"):
            message = f"Node '{node.id}' has unresolved file reference: {prompt}"
            yield _node_error("unresolved_file_ref", node, message)


# 22
def attribute_type(s: Subject) -> Diagnostics:
    """Typed attributes convert and are in range (§6.1)."""
    graph = s.graph
    for key, attr_type in GRAPH_TYPES.items():
        value = graph.attrs.get(key)
        if value is not None and (problem := type_error(value, attr_type)):
            yield Diagnostic("attribute_type", ERROR, f"Graph attribute '{key}' {problem}")
    for node in graph.nodes.values():
        for key, value in node.attrs.items():
            node_type = NODE_TYPES.get(key)
            # The legacy `max_agent_turns` is only read when `max_turns` is absent.
            if node_type is None or (key == "max_agent_turns" and "max_turns" in node.attrs):
                continue
            if problem := type_error(value, node_type):
                message = f"Attribute '{key}' on node '{node.id}' {problem}"
                yield _node_error("attribute_type", node, message)
    for edge in graph.edges:
        for key, value in edge.attrs.items():
            edge_type = EDGE_TYPES.get(key)
            if edge_type is not None and (problem := type_error(value, edge_type)):
                message = f"Attribute '{key}' on edge {edge.describe()} {problem}"
                yield _edge_diagnostic("attribute_type", ERROR, edge, message)


# 24
def undefined_variable(s: Subject) -> Diagnostics:
    """`$name` in a goal, prompt or label is defined (recorded during expansion)."""
    for use in s.undefined:
        if use.node_id is None:
            message = f"Graph goal uses undefined variable ${use.name}"
            yield Diagnostic("undefined_variable", ERROR, message)
        else:
            message = f"Node '{use.node_id}' {use.where} uses undefined variable ${use.name}"
            yield Diagnostic("undefined_variable", ERROR, message, node_id=use.node_id)


RuleFunction = Callable[[Subject], Diagnostics]

# fabro's rules beyond the spec's table (§11 lists rules 1-24): what the original ran silently
# the wrong way. Each is named after its function, as every rule is.
FABRO_RULES: tuple[RuleFunction, ...] = (
    script_on_command_nodes,
    attribute_known,
    shape_known,
    unconditional_edge_count,
    outcome_value,
    failure_falls_through,
    secret_names_valid,
)

RULES: tuple[RuleFunction, ...] = (
    start_node,
    terminal_node,
    reachability,
    edge_target_exists,
    start_no_incoming,
    exit_no_outgoing,
    condition_syntax,
    stylesheet_syntax,
    type_known,
    fidelity_valid,
    retry_target_exists,
    goal_gate_has_retry,
    prompt_on_llm_nodes,
    freeform_edge_count,
    direction_valid,
    reserved_keyword_node_id,
    all_conditional_edges,
    orphan_custom_outcome,
    script_absolute_cd,
    stylesheet_model_known,
    unresolved_file_ref,
    attribute_type,
    dead_end,
    undefined_variable,
    *FABRO_RULES,
)


def validate(subject: Subject | Graph) -> list[Diagnostic]:
    """Run every rule in order and return all diagnostics."""
    if isinstance(subject, Graph):
        subject = Subject(subject)
    return [diagnostic for rule in RULES for diagnostic in rule(subject)]
