"""The workflow language: DOT subset parser, graph model, preparation and validation."""
