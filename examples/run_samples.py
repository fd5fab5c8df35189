"""``make samples``: invoke the example app with every sample event in ``events/``, no AWS needed.

Each event goes through the same handler Lambda would call (``examples.hello.app.handler``)
and the proxy response is printed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from hello.app import handler  # noqa: E402
from lambda_asgi import LambdaContext, UnsupportedEventError  # noqa: E402


def main() -> int:
    """Invoke the handler with each sample event and print what it returns."""
    for path in sorted((ROOT / "events").glob("*.json")):
        event = json.loads(path.read_text())
        print(f"=== {path.name}")
        try:
            response = handler(event, LambdaContext.local())
        except UnsupportedEventError as exc:
            print(f"UnsupportedEventError: {exc}")
            continue
        print(json.dumps(response, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
