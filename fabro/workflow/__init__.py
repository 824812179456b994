"""The workflow language: DOT subset parser, graph model, preparation and validation.

Public entry points (import the submodules directly):

- `prepare.prepare(source, *, path, goal, vars, resolve_files) -> Prepared` — the §1 pipeline;
  raises `errors.DotParseError` (message, line, col, file).
- `model.Graph` / `Node` / `Edge` — typed accessors, `Graph.to_json()` / `Graph.from_json()`.
- `conditions.parse_condition`, `conditions.evaluate`, `conditions.condition_holds` — §7.
- `labels.option_key`, `labels.normalize_label`, `labels.gate_options` — human gates, §12.1.
- `validate.RULES`, `validate.validate`, `diagnostics.Diagnostic` — §11.
- `render.normalized_dot(graph, stage_status)`, `render.render(dot, fmt, timeout_s)` — drawing.
- `source.resolve_workflow`, `commands.validate_command` / `graph_command` — the CLI's logic.
"""
