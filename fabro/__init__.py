"""fabro: durable workflow runs from Graphviz DOT graphs."""

__version__ = "0.1.0"
