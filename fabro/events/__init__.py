"""Run and session events: their types, secret redaction, SSE encoding and the live fan-out bus."""
