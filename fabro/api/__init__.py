"""The HTTP API: one module per resource, the route table, OpenAPI and the error envelope."""
