"""The workflow package's copy of model/provider names matches the llm catalog (api.md §9)."""

from __future__ import annotations

from fabro.llm import catalog as llm_catalog
from fabro.workflow.catalog import MODEL_NAMES, PROVIDER_NAMES


def test_model_names_match_the_llm_catalog() -> None:
    names = {name for model in llm_catalog.MODELS for name in (model.id, *model.aliases)}
    assert names == MODEL_NAMES


def test_provider_names_match_the_llm_catalog() -> None:
    assert PROVIDER_NAMES == set(llm_catalog.PROVIDERS) | set(llm_catalog.PROVIDER_ALIASES)
