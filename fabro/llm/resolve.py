"""Which provider and model an LLM stage uses (engine.md §10.1), as a pure function."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from fabro.llm.catalog import (
    DEFAULT_PROVIDER,
    canonical_id,
    canonical_provider,
    default_model,
    lookup,
)


@dataclass(frozen=True)
class LevelChoice:
    """What one configuration level sets; None (or an empty string) leaves it to lower levels."""

    model: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class Resolved:
    """The outcome: ``model`` is a canonical id, or a name unknown to the catalog kept as given.

    ``model`` is None only when no level names a model and the provider has no catalog default;
    such a provider is not callable anyway, and the stage fails on it.
    """

    provider: str
    model: str | None


_UNSET = LevelChoice()


@functools.lru_cache(maxsize=256)  # pure, and asked again before every LLM stage
def resolve_model(
    *,
    node: LevelChoice = _UNSET,
    run_override: LevelChoice = _UNSET,
    run_config: LevelChoice = _UNSET,
    server_default: LevelChoice = _UNSET,
    graph_default: LevelChoice = _UNSET,
) -> Resolved:
    """Resolve provider and model from the five levels, highest priority first.

    Model aliases become canonical ids and legacy provider spellings (``open_ai``) their names.
    """
    levels = (node, run_override, run_config, server_default, graph_default)
    # (level index, value) of the highest level setting each; a lower index is a higher priority.
    lm = next(((i, canonical_id(lv.model)) for i, lv in enumerate(levels) if lv.model), None)
    lp = next(
        ((i, canonical_provider(lv.provider)) for i, lv in enumerate(levels) if lv.provider), None
    )

    if lm is None:
        provider = lp[1] if lp is not None else DEFAULT_PROVIDER
        default = default_model(provider)
        return Resolved(provider, default.id if default is not None else None)

    level_m, model_id = lm
    known = lookup(model_id)
    if lp is not None and lp[0] <= level_m:
        provider = lp[1]
        if known is None or known.provider == provider:
            return Resolved(provider, model_id)
        default = default_model(provider)
        # A provider outside the catalog has no default to switch to: keep the model named.
        return Resolved(provider, default.id if default is not None else model_id)

    if known is not None:
        return Resolved(known.provider, model_id)
    return Resolved(lp[1] if lp is not None else DEFAULT_PROVIDER, model_id)
