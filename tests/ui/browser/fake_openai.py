"""A stand-in for an OpenAI-compatible endpoint (OPENAI_BASE_URL), so that the pages' server
records real token counts and costs for the usage page (the simulated LLM reports none).

Standard library only, in a thread: every chat completion gets one plain (non-streamed) answer
with fixed token counts per model, which fabro's OpenAI client accepts in place of a stream.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 4 * 1024 * 1024
# (input tokens, output tokens) each model reports for one call.
TOKENS = {"gpt-5.4": (1_850, 420), "gpt-5-mini": (3_200, 960)}
DEFAULT_TOKENS = (1_000, 200)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = min(int(self.headers.get("content-length") or 0), MAX_BODY)
        request = json.loads(self.rfile.read(length) or b"{}")
        model = str(request.get("model") or "gpt-5.4")
        prompt, completion = TOKENS.get(model, DEFAULT_TOKENS)
        body = json.dumps(
            {
                "id": "chatcmpl-fabro-test",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Plan: greet, then ship."},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the test output is for failures


@contextmanager
def fake_openai() -> Iterator[str]:
    """Serve on a free port of 127.0.0.1; yields the base URL (…/v1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
