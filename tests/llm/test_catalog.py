from __future__ import annotations

import json
from typing import Any

import pytest

from fabro.llm.catalog import (
    DEFAULT_MODEL,
    DEFAULT_PROVIDER,
    MODELS,
    PROVIDER_ALIASES,
    PROVIDERS,
    SUPPORTED_PROVIDERS,
    Model,
    canonical_id,
    canonical_provider,
    default_model,
    lookup,
)
from tests.shared_dir import API_MD, PRESENT, needs_shared


def _spec_rows() -> list[dict[str, Any]]:
    """The model table of api.md §9, as Model.to_json() shapes ([] without ../shared)."""
    if not PRESENT:
        return []  # the tests that compare with it are deselected
    lines = API_MD.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## 9. Models"))
    table = []
    for line in lines[start:]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif table:
            break
    header, rows = table[0], table[2:]  # table[1] is the |---| line
    assert header[0] == "id" and header[-1] == "default"

    def num(cell: str, kind: type) -> Any:
        return None if cell == "null" else kind(cell)

    out = []
    for row in rows:
        (id, provider, family, name, ctx, max_out, training, features, cin, cout, ccache, tps,
         aliases, default) = row  # fmt: skip
        tools, vision, reasoning = (flag == "y" for flag in features.split("/"))
        out.append(
            {
                "id": id,
                "provider": provider,
                "family": family,
                "display_name": name,
                "limits": {"context_window": num(ctx, int), "max_output": num(max_out, int)},
                "training": None if training == "null" else training,
                "features": {"tools": tools, "vision": vision, "reasoning": reasoning},
                "costs": {
                    "input_cost_per_mtok": num(cin, float),
                    "output_cost_per_mtok": num(cout, float),
                    "cache_input_cost_per_mtok": num(ccache, float),
                },
                "estimated_output_tps": num(tps, int),
                "aliases": [] if aliases == "—" else [a.strip() for a in aliases.split(",")],
                "default": default == "yes",
            }
        )
    return out


SPEC_ROWS = _spec_rows()


@needs_shared
def test_the_spec_table_was_read() -> None:
    assert len(SPEC_ROWS) == 19


@needs_shared
def test_catalog_order_is_the_spec_order() -> None:
    assert [m.id for m in MODELS] == [row["id"] for row in SPEC_ROWS]


@needs_shared
@pytest.mark.parametrize("row", SPEC_ROWS, ids=lambda row: row["id"])
def test_every_row_matches_the_spec_field_by_field(row: dict[str, Any]) -> None:
    model = lookup(row["id"])
    assert model is not None
    actual = model.to_json()
    assert list(actual) == list(row)  # same keys, same order
    for key, expected in row.items():
        assert actual[key] == expected, key
    # Also on the wire: 15.0 stays a float and 25 an int.
    assert json.dumps(actual) == json.dumps(row)


def test_to_json_matches_the_spec_example() -> None:
    example = json.loads(
        """{"id": "claude-haiku-4-5", "provider": "anthropic", "family": "claude-4",
        "display_name": "Claude Haiku 4.5",
        "limits": {"context_window": 200000, "max_output": 8192},
        "training": "2025-08-01", "features": {"tools": true, "vision": true, "reasoning": false},
        "costs": {"input_cost_per_mtok": 0.8, "output_cost_per_mtok": 4.0,
        "cache_input_cost_per_mtok": 0.08}, "estimated_output_tps": 100,
        "aliases": ["haiku", "claude-haiku"], "default": false}"""
    )
    haiku = lookup("claude-haiku-4-5")
    assert haiku is not None
    assert haiku.to_json() == example


def test_unknown_values_are_null_not_omitted() -> None:
    spark = lookup("gpt-5.3-codex-spark")
    assert spark is not None
    costs = spark.to_json()["costs"]
    assert costs == {
        "input_cost_per_mtok": None,
        "output_cost_per_mtok": None,
        "cache_input_cost_per_mtok": None,
    }
    glm = lookup("glm")
    assert glm is not None
    assert glm.to_json()["training"] is None


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.id)
def test_lookup_by_id_and_every_alias(model: Model) -> None:
    for name in [model.id, *model.aliases]:
        found = lookup(name)
        assert found is not None and found.id == model.id
        assert canonical_id(name) == model.id


@pytest.mark.parametrize(
    "name", ["Opus", "OPUS", "Claude-Opus-4-6", " opus", "opus ", "", "claude-opus-4", "llama3.1"]
)
def test_lookup_is_exact_and_case_sensitive(name: str) -> None:
    assert lookup(name) is None
    assert canonical_id(name) == name  # unknown names are kept as given


def test_names_are_unique() -> None:
    names = [name for model in MODELS for name in (model.id, *model.aliases)]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("provider", "model_id"),
    [
        ("anthropic", "claude-opus-4-6"),
        ("openai", "gpt-5.4"),
        ("gemini", "gemini-3.1-pro-preview"),
        ("kimi", "kimi-k2.5"),
        ("zai", "glm-4.7"),
        ("minimax", "minimax-m2.5"),
        ("inception", "mercury-2"),
    ],
)
def test_default_model_per_provider(provider: str, model_id: str) -> None:
    model = default_model(provider)
    assert model is not None and model.id == model_id and model.default


@pytest.mark.parametrize("provider", ["ollama", "Anthropic", ""])
def test_no_default_for_an_unknown_provider(provider: str) -> None:
    assert default_model(provider) is None


def test_each_provider_has_exactly_one_default() -> None:
    for provider in PROVIDERS:
        assert sum(m.default for m in MODELS if m.provider == provider) == 1


def test_providers() -> None:
    assert PROVIDERS == ("anthropic", "openai", "gemini", "kimi", "zai", "minimax", "inception")
    assert SUPPORTED_PROVIDERS == ("anthropic", "openai")
    assert set(SUPPORTED_PROVIDERS) <= set(PROVIDERS)


def test_overall_default() -> None:
    assert DEFAULT_MODEL.id == "claude-opus-4-6"
    assert DEFAULT_PROVIDER == "anthropic"


def test_models_are_immutable() -> None:
    model: Model = MODELS[0]
    with pytest.raises(AttributeError):
        model.id = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("open_ai", "openai"),
        ("inception_labs", "inception"),
        ("openai", "openai"),
        ("ollama", "ollama"),
    ],
)
def test_canonical_provider(name: str, canonical: str) -> None:
    assert canonical_provider(name) == canonical


def test_the_workflow_package_copy_of_the_names_agrees() -> None:
    # fabro.workflow sits below fabro.llm in the import order and keeps its own copy.
    from fabro.workflow import catalog as workflow_catalog

    names = {name for model in MODELS for name in (model.id, *model.aliases)}
    assert workflow_catalog.MODEL_NAMES == names
    assert workflow_catalog.PROVIDER_NAMES == {*PROVIDERS, *PROVIDER_ALIASES}
    assert workflow_catalog.PROVIDERS_MESSAGE == ", ".join(PROVIDERS)
