"""Model and provider names the stylesheet check knows (rule `stylesheet_model_known`).

These mirror the built-in model catalog of api.md §9 (ids and aliases). The workflow package
sits below `fabro.llm` in the import order, so it keeps its own copy of the names; a test in
the llm package can assert the two agree.
"""

from __future__ import annotations

from typing import Final

MODEL_NAMES: Final = frozenset(
    {
        "claude-opus-4-6",
        "opus",
        "claude-opus",
        "claude-sonnet-4-5",
        "claude-sonnet-4-6",
        "sonnet",
        "claude-sonnet",
        "claude-haiku-4-5",
        "haiku",
        "claude-haiku",
        "gpt-5.2",
        "gpt5",
        "gpt-5-mini",
        "gpt5-mini",
        "gpt-5.2-codex",
        "gpt-5.3-codex",
        "codex",
        "gpt-5.3-codex-spark",
        "codex-spark",
        "gpt-5.4",
        "gpt54",
        "gpt-5.4-pro",
        "gpt54-pro",
        "gemini-3.1-pro-preview",
        "gemini-pro",
        "gemini-3.1-pro-preview-customtools",
        "gemini-customtools",
        "gemini-3-flash-preview",
        "gemini-flash",
        "gemini-3.1-flash-lite-preview",
        "gemini-flash-lite",
        "kimi-k2.5",
        "kimi",
        "glm-4.7",
        "glm",
        "glm4",
        "minimax-m2.5",
        "minimax",
        "mercury-2",
        "mercury",
    }
)

# Names accepted in a stylesheet `llm_provider` (two legacy spellings included).
PROVIDER_NAMES: Final = frozenset(
    {
        "anthropic",
        "openai",
        "open_ai",
        "gemini",
        "kimi",
        "zai",
        "minimax",
        "inception",
        "inception_labs",
    }
)
PROVIDERS_MESSAGE: Final = "anthropic, openai, gemini, kimi, zai, minimax, inception"
