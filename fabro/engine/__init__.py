"""The engine: a pure core that decides what happens next, and an async runner around it."""
