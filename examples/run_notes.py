"""``make run``: the notes example on an embedded DynamoDB, behind ``lambda-asgi serve``.

moto's threaded server runs in this process (a real DynamoDB HTTP endpoint, no AWS account);
the notes table is created in it; then ``lambda-asgi serve`` plays a Function URL in
``RESPONSE_STREAM`` mode (the front door of the streaming deployment in ``template.yaml``, so
the Server-Sent Events route streams) in front of ``lambda-asgi runtime`` child processes
running ``notes.app:app``, which reach the table over HTTP through the environment of
``app_environment()``. Edits to
``examples/notes/*.py`` restart the runtime. Ctrl-C stops everything.

    python examples/run_notes.py [--host 127.0.0.1] [--port 3000]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
sys.path.insert(0, str(EXAMPLES))

from lambda_asgi.local.serve import serve  # noqa: E402
from notes.local_dynamodb import app_environment, start_local_dynamodb  # noqa: E402


def try_it(url: str) -> str:
    """What to print once the server listens: the URL and three requests to try."""
    return (
        f"\nThe notes API is running at {url} (Ctrl-C stops it). Try:\n\n"
        f"  curl -s -X POST {url}/notes -H 'content-type: application/json' "
        """-d '{"title": "hello", "body": "from lambda-asgi serve"}'\n"""
        f"  curl -s {url}/notes\n"
        f"  curl -sN '{url}/notes/events?timeout=30'   "
        "# Server-Sent Events; create a note in another shell\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Start the embedded DynamoDB, then serve the notes app until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    local = start_local_dynamodb()
    # The runtime processes inherit these: the table name and the local endpoint.
    os.environ.update(app_environment(local.endpoint_url))
    print(f"DynamoDB (moto) on {local.endpoint_url}, table notes", flush=True)
    try:
        return serve(
            "notes.app:app",
            host=args.host,
            port=args.port,
            source="function-url",
            stream=True,
            reload=True,
            app_dir=str(EXAMPLES),
            ready=lambda url: print(try_it(url), flush=True),
        )
    finally:
        local.stop()


if __name__ == "__main__":
    sys.exit(main())
