"""The workflow language: DOT subset parser, graph model, preparation and validation.

Public entry points (import the submodules directly):

- `prepare.prepare(source, *, path, goal, config_goal, vars, resolve_files, limits) -> Prepared`
  — the §1 pipeline; raises `errors.DotParseError` (message, line, col, file) and
  `errors.WorkflowInputError` (over `limits`, or a value a script cannot take).
- `model.Graph` / `Node` / `Edge` — typed accessors, `Graph.to_json()` / `Graph.from_json()`.
- `conditions.parse_condition`, `conditions.evaluate`, `conditions.condition_holds` — §7.
- `regex.compile_pattern` — a `matches` pattern: Python `re` meaning, RE2's linear time.
- `labels.option_key`, `labels.normalize_label`, `labels.gate_options` — human gates, §12.1.
- `validate.RULES`, `validate.validate`, `diagnostics.Diagnostic` — §11.
- `render.normalized_dot(graph, stage_status)`, `render.render(dot, fmt, timeout_s)` — drawing.
- `source.resolve_workflow`, `commands.validate_command` / `graph_command` — the CLI's logic.
"""
