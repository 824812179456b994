"""LLM backend building blocks: the model catalog, model resolution and usage accounting."""
