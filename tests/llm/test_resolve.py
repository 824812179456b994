from __future__ import annotations

import pytest

from fabro.llm.resolve import LevelChoice, Resolved, resolve_model

LEVELS = ("node", "run_override", "run_config", "server_default", "graph_default")


def resolve(**levels: tuple[str | None, str | None]) -> Resolved:
    """resolve_model with each level given as (model, provider)."""
    return resolve_model(
        **{name: LevelChoice(model=m, provider=p) for name, (m, p) in levels.items()}
    )


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        # No level sets a model: Lp's provider (else anthropic) and its default model.
        ({}, ("anthropic", "claude-opus-4-6")),
        ({"server_default": (None, "openai")}, ("openai", "gpt-5.4")),
        ({"graph_default": (None, "gemini")}, ("gemini", "gemini-3.1-pro-preview")),
        ({"node": (None, "zai"), "graph_default": (None, "openai")}, ("zai", "glm-4.7")),
        ({"run_config": (None, "ollama")}, ("ollama", None)),  # no catalog default to use
        # Lp at Lm's level or higher: Lp's provider; Lm's model if unknown or of that provider.
        ({"node": ("claude-sonnet-4-5", "anthropic")}, ("anthropic", "claude-sonnet-4-5")),
        ({"node": ("llama3.1", "openai")}, ("openai", "llama3.1")),
        ({"node": ("gpt-5.2", "anthropic")}, ("anthropic", "claude-opus-4-6")),
        (
            {"run_override": (None, "anthropic"), "run_config": ("sonnet", None)},
            ("anthropic", "claude-sonnet-4-6"),
        ),
        (
            {"run_override": (None, "openai"), "server_default": ("claude-sonnet-4-5", None)},
            ("openai", "gpt-5.4"),
        ),
        ({"node": (None, "openai"), "graph_default": ("my-local", None)}, ("openai", "my-local")),
        ({"node": ("opus", "ollama")}, ("ollama", "claude-opus-4-6")),  # ollama has no default
        # Lm higher than Lp, or no Lp: the model's catalog provider, else Lp's, else anthropic.
        ({"node": ("gpt-5.2", None), "server_default": (None, "anthropic")}, ("openai", "gpt-5.2")),
        ({"graph_default": ("haiku", None)}, ("anthropic", "claude-haiku-4-5")),
        ({"run_config": ("codex", None)}, ("openai", "gpt-5.3-codex")),
        ({"run_config": ("llama3.1", None)}, ("anthropic", "llama3.1")),
        ({"node": ("llama3.1", None), "graph_default": (None, "openai")}, ("openai", "llama3.1")),
        ({"node": ("kimi", None), "run_override": (None, "openai")}, ("kimi", "kimi-k2.5")),
    ],
)
def test_resolution_table(
    levels: dict[str, tuple[str | None, str | None]], expected: tuple[str, str | None]
) -> None:
    assert resolve(**levels) == Resolved(*expected)


def test_spec_example_provider_override_switches_to_the_provider_default() -> None:
    # `--provider openai` with server.toml model claude-sonnet-4-5 gives openai / gpt-5.4.
    result = resolve(run_override=(None, "openai"), server_default=("claude-sonnet-4-5", None))
    assert result == Resolved("openai", "gpt-5.4")


def test_spec_example_node_model_brings_its_provider() -> None:
    # llm_model=gpt-5.2 under a server default provider anthropic gives openai / gpt-5.2.
    result = resolve(node=("gpt-5.2", None), server_default=(None, "anthropic"))
    assert result == Resolved("openai", "gpt-5.2")


def test_spec_example_unknown_model_is_sent_as_written() -> None:
    # llm_model=llama3.1, llm_provider=openai is sent as written to the OpenAI protocol.
    assert resolve(node=("llama3.1", "openai")) == Resolved("openai", "llama3.1")


@pytest.mark.parametrize("model_level", range(5))
@pytest.mark.parametrize("provider_level", [*range(5), None])
def test_every_pair_of_levels(model_level: int, provider_level: int | None) -> None:
    # gpt-5.2 belongs to openai; anthropic wins only from the same level or higher.
    levels: dict[str, tuple[str | None, str | None]] = {LEVELS[model_level]: ("gpt-5.2", None)}
    if provider_level is not None:
        model, _ = levels.get(LEVELS[provider_level], (None, None))
        levels[LEVELS[provider_level]] = (model, "anthropic")
    expected = (
        Resolved("anthropic", "claude-opus-4-6")
        if provider_level is not None and provider_level <= model_level
        else Resolved("openai", "gpt-5.2")
    )
    assert resolve(**levels) == expected


@pytest.mark.parametrize("winner", range(5))
def test_the_highest_level_setting_a_model_wins(winner: int) -> None:
    levels: dict[str, tuple[str | None, str | None]] = {
        name: ("claude-haiku-4-5", None) for name in LEVELS[winner + 1 :]
    }
    levels[LEVELS[winner]] = ("claude-sonnet-4-5", None)
    assert resolve(**levels) == Resolved("anthropic", "claude-sonnet-4-5")


def test_empty_strings_count_as_unset() -> None:
    result = resolve(node=("", ""), run_config=("haiku", None))
    assert result == Resolved("anthropic", "claude-haiku-4-5")


def test_aliases_are_replaced_before_comparing_providers() -> None:
    # "gpt5" is an alias of gpt-5.2, an openai model: it stays under provider openai.
    assert resolve(node=("gpt5", "openai")) == Resolved("openai", "gpt-5.2")


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ({"node": (None, "open_ai")}, ("openai", "gpt-5.4")),
        ({"node": ("gpt-5.2", "open_ai")}, ("openai", "gpt-5.2")),
        ({"run_config": ("mercury", "inception_labs")}, ("inception", "mercury-2")),
    ],
)
def test_legacy_provider_spellings(
    levels: dict[str, tuple[str | None, str | None]], expected: tuple[str, str | None]
) -> None:
    assert resolve(**levels) == Resolved(*expected)
