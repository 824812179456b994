"""The built-in model catalog of api.md §9: ids, aliases, limits, prices and provider defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SUPPORTED_PROVIDERS = ("anthropic", "openai")  # the providers fabro can call (engine.md §10.2)


@dataclass(frozen=True, kw_only=True)
class ModelLimits:
    context_window: int | None
    max_output: int | None


@dataclass(frozen=True, kw_only=True)
class ModelFeatures:
    tools: bool
    vision: bool
    reasoning: bool


@dataclass(frozen=True, kw_only=True)
class ModelCosts:
    """Prices in USD per million tokens; None when unknown."""

    input_cost_per_mtok: float | None
    output_cost_per_mtok: float | None
    cache_input_cost_per_mtok: float | None


@dataclass(frozen=True, kw_only=True)
class Model:
    """One catalog entry; ``default`` marks the default model of its provider."""

    id: str
    provider: str
    family: str
    display_name: str
    limits: ModelLimits
    training: str | None  # training cut-off date, YYYY-MM-DD
    features: ModelFeatures
    costs: ModelCosts
    estimated_output_tps: int | None
    aliases: tuple[str, ...]
    default: bool

    def to_json(self) -> dict[str, Any]:
        """The Model object of ``GET /models``; unknown values are null, never omitted."""
        return {
            "id": self.id,
            "provider": self.provider,
            "family": self.family,
            "display_name": self.display_name,
            "limits": {
                "context_window": self.limits.context_window,
                "max_output": self.limits.max_output,
            },
            "training": self.training,
            "features": {
                "tools": self.features.tools,
                "vision": self.features.vision,
                "reasoning": self.features.reasoning,
            },
            "costs": {
                "input_cost_per_mtok": self.costs.input_cost_per_mtok,
                "output_cost_per_mtok": self.costs.output_cost_per_mtok,
                "cache_input_cost_per_mtok": self.costs.cache_input_cost_per_mtok,
            },
            "estimated_output_tps": self.estimated_output_tps,
            "aliases": list(self.aliases),
            "default": self.default,
        }


def _row(
    id: str,
    provider: str,
    family: str,
    display_name: str,
    context_window: int | None,
    max_output: int | None,
    training: str | None,
    features: str,
    costs: tuple[float | None, float | None, float | None],
    tps: int | None,
    aliases: tuple[str, ...] = (),
    default: bool = False,
) -> Model:
    """One row of the spec table, written the way the table reads (features as ``y/y/n``)."""
    tools, vision, reasoning = (flag == "y" for flag in features.split("/"))
    return Model(
        id=id,
        provider=provider,
        family=family,
        display_name=display_name,
        limits=ModelLimits(context_window=context_window, max_output=max_output),
        training=training,
        features=ModelFeatures(tools=tools, vision=vision, reasoning=reasoning),
        costs=ModelCosts(
            input_cost_per_mtok=costs[0],
            output_cost_per_mtok=costs[1],
            cache_input_cost_per_mtok=costs[2],
        ),
        estimated_output_tps=tps,
        aliases=aliases,
        default=default,
    )


# fmt: off
# In the order of GET /models. Columns: id, provider, family, display name, context window,
# max output, training, tools/vision/reasoning, (input, output, cache input) price, tps, aliases.
MODELS: tuple[Model, ...] = (
    _row("claude-opus-4-6", "anthropic", "claude-4", "Claude Opus 4.6", 1_000_000, 128_000,
         "2025-08-01", "y/y/y", (15.0, 75.0, 1.5), 25, ("opus", "claude-opus"), default=True),
    _row("claude-sonnet-4-5", "anthropic", "claude-4", "Claude Sonnet 4.5", 200_000, 64_000,
         "2025-08-01", "y/y/y", (3.0, 15.0, 0.3), 50),
    _row("claude-sonnet-4-6", "anthropic", "claude-4", "Claude Sonnet 4.6", 200_000, 64_000,
         "2025-08-01", "y/y/y", (3.0, 15.0, 0.3), 50, ("sonnet", "claude-sonnet")),
    _row("claude-haiku-4-5", "anthropic", "claude-4", "Claude Haiku 4.5", 200_000, 8_192,
         "2025-08-01", "y/y/n", (0.8, 4.0, 0.08), 100, ("haiku", "claude-haiku")),
    _row("gpt-5.2", "openai", "gpt-5", "GPT-5.2", 1_047_576, 128_000,
         "2025-08-31", "y/y/y", (1.75, 14.0, 0.175), 65, ("gpt5",)),
    _row("gpt-5-mini", "openai", "gpt-5", "GPT-5 Mini", 1_047_576, 128_000,
         "2025-08-31", "y/y/y", (0.25, 2.0, 0.025), 70, ("gpt5-mini",)),
    _row("gpt-5.2-codex", "openai", "gpt-5", "GPT-5.2 Codex", 1_047_576, 128_000,
         "2025-08-31", "y/y/y", (1.75, 14.0, 0.175), 100),
    _row("gpt-5.3-codex", "openai", "gpt-5", "GPT-5.3 Codex", 1_047_576, 128_000,
         "2025-08-31", "y/y/y", (1.75, 14.0, 0.175), 100, ("codex",)),
    _row("gpt-5.3-codex-spark", "openai", "gpt-5", "GPT-5.3 Codex Spark", 131_072, 128_000,
         "2025-08-31", "y/n/y", (None, None, None), 1000, ("codex-spark",)),
    _row("gpt-5.4", "openai", "gpt-5", "GPT-5.4", 1_047_576, 128_000,
         "2025-08-31", "y/y/y", (2.5, 15.0, 0.25), 70, ("gpt54",), default=True),
    _row("gpt-5.4-pro", "openai", "gpt-5", "GPT-5.4 Pro", 1_047_576, 128_000,
         "2025-08-31", "y/y/y", (30.0, 180.0, 3.0), 20, ("gpt54-pro",)),
    _row("gemini-3.1-pro-preview", "gemini", "gemini-3", "Gemini 3.1 Pro (Preview)",
         1_048_576, 65_536, "2025-01-01", "y/y/y", (2.0, 12.0, 0.5), 85, ("gemini-pro",),
         default=True),
    _row("gemini-3.1-pro-preview-customtools", "gemini", "gemini-3",
         "Gemini 3.1 Pro Custom Tools (Preview)", 1_048_576, 65_536, "2025-01-01", "y/y/y",
         (2.0, 12.0, 0.5), 85, ("gemini-customtools",)),
    _row("gemini-3-flash-preview", "gemini", "gemini-3", "Gemini 3 Flash (Preview)",
         1_048_576, 65_536, "2025-01-01", "y/y/y", (0.5, 3.0, 0.125), 150, ("gemini-flash",)),
    _row("gemini-3.1-flash-lite-preview", "gemini", "gemini-3", "Gemini 3.1 Flash Lite (Preview)",
         1_048_576, 65_536, "2025-01-01", "y/y/y", (0.25, 1.5, 0.0625), 200,
         ("gemini-flash-lite",)),
    _row("kimi-k2.5", "kimi", "kimi-k2", "Kimi K2.5", 262_144, 16_000,
         "2025-10-01", "y/y/n", (0.6, 3.0, None), 50, ("kimi",), default=True),
    _row("glm-4.7", "zai", "glm-4", "GLM 4.7", 202_752, 16_384,
         None, "y/n/n", (0.6, 2.2, None), 100, ("glm", "glm4"), default=True),
    _row("minimax-m2.5", "minimax", "minimax-m2", "Minimax M2.5", 196_608, 16_384,
         None, "y/n/n", (0.3, 1.2, None), 45, ("minimax",), default=True),
    _row("mercury-2", "inception", "mercury", "Mercury 2", 131_072, 50_000,
         None, "y/n/y", (0.25, 0.75, None), 1000, ("mercury",), default=True),
)
# fmt: on

# Every provider of the catalog, in catalog order.
PROVIDERS: tuple[str, ...] = tuple(dict.fromkeys(model.provider for model in MODELS))

# Legacy spellings still accepted for a provider (workflow-language.md, rule 20).
PROVIDER_ALIASES: dict[str, str] = {"open_ai": "openai", "inception_labs": "inception"}

_BY_NAME: dict[str, Model] = {
    name: model for model in MODELS for name in (model.id, *model.aliases)
}
_DEFAULTS: dict[str, Model] = {model.provider: model for model in MODELS if model.default}

DEFAULT_MODEL: Model = _BY_NAME["claude-opus-4-6"]  # the overall default
DEFAULT_PROVIDER = DEFAULT_MODEL.provider


def lookup(name: str) -> Model | None:
    """The model with this id or alias (exact, case-sensitive), or None."""
    return _BY_NAME.get(name)


def canonical_id(name: str) -> str:
    """The canonical id for an id or alias; a name unknown to the catalog is returned as is."""
    model = _BY_NAME.get(name)
    return model.id if model is not None else name


def default_model(provider: str) -> Model | None:
    """The default model of a catalog provider, or None for a provider the catalog lacks."""
    return _DEFAULTS.get(provider)


def canonical_provider(name: str) -> str:
    """The provider name with legacy spellings (``open_ai``) replaced; others returned as is."""
    return PROVIDER_ALIASES.get(name, name)
