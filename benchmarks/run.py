"""``make bench``: lambda-asgi against Mangum on the same apps and events, in one run.

Machines are noisy, so every figure is a ratio between adapters measured in the same process,
interleaved, as the median of several rounds. Nothing here is asserted by the test suite.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mangum import Mangum  # noqa: E402

from lambda_asgi import LambdaAdapter, LambdaContext  # noqa: E402
from lambda_asgi.events import detect_source  # noqa: E402
from tests.events import http_api_v2_event  # noqa: E402

logging.disable(logging.CRITICAL)

ROUNDS = 7


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest useful ASGI app: lifespan support and a JSON answer."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"x-request", b"1")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"ok": true}'})


def fastapi_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int, q: str = "") -> dict[str, Any]:
        return {"item_id": item_id, "q": q}

    return app


def time_per_call(func: Callable[[], Any], target_s: float = 0.25) -> float:
    """Seconds per call of ``func``: calibrated loop, best of a few repeats."""
    func()
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            func()
        elapsed = time.perf_counter() - start
        if elapsed > target_s / 5:
            break
        n *= 2
    n = max(1, int(n * (target_s / 5) / elapsed * 5 / 3))
    best = float("inf")
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        for _ in range(n):
            func()
        best = min(best, (time.perf_counter() - start) / n)
    return best


def compare(cases: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """Median time per call of each case, measured interleaved over ROUNDS rounds."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, func in cases.items():
            samples[name].append(time_per_call(func))
    return {name: statistics.median(values) for name, values in samples.items()}


def import_time(module: str) -> float:
    """Median seconds to import ``module`` in a fresh interpreter."""
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    values = []
    for _ in range(9):
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
        values.append(float(out))
    return statistics.median(values)


def row(name: str, ours: float, theirs: float, target: str) -> str:
    return f"| {name} | {ours * 1e6:8.1f} us | {theirs * 1e6:8.1f} us | {theirs / ours:5.2f}x | {target} |"


def main() -> int:
    context = LambdaContext.local(900)
    event = http_api_v2_event("GET", "/items/42", "q=abc")

    ours_raw = LambdaAdapter(raw_app)
    mangum_raw_off = Mangum(raw_app, lifespan="off")
    mangum_raw_auto = Mangum(raw_app)
    ours_fastapi = LambdaAdapter(fastapi_app())
    mangum_fastapi_auto = Mangum(fastapi_app())

    for handler in (ours_raw, mangum_raw_off, mangum_raw_auto, ours_fastapi, mangum_fastapi_auto):
        response = handler(event, context)
        assert response["statusCode"] == 200, response

    # The floor: the app's coroutine on a standard asyncio loop with a prebuilt scope.
    floor_loop = asyncio.new_event_loop()
    floor_scope, floor_body = detect_source(event).to_scope(event, context, ours_raw.config)

    async def floor_receive() -> dict[str, Any]:
        return {"type": "http.request", "body": floor_body, "more_body": False}

    async def floor_send(message: dict[str, Any]) -> None:
        pass

    def floor() -> None:
        floor_loop.run_until_complete(raw_app(floor_scope, floor_receive, floor_send))


    timings = compare(
        {
            "ours_raw": lambda: ours_raw(event, context),
            "mangum_raw_off": lambda: mangum_raw_off(event, context),
            "mangum_raw_auto": lambda: mangum_raw_auto(event, context),
            "floor": floor,
            "ours_fastapi": lambda: ours_fastapi(event, context),
            "mangum_fastapi_auto": lambda: mangum_fastapi_auto(event, context),
        }
    )
    imports = {"lambda_asgi": import_time("lambda_asgi"), "mangum": import_time("mangum")}

    print(f"lambda-asgi benchmark (Python {sys.version.split()[0]}, median of {ROUNDS} rounds)")
    print()
    print("| case | lambda-asgi | peer | speed-up | target |")
    print("|---|---|---|---|---|")
    print(row("raw ASGI, v2 event vs Mangum(lifespan=off)", timings["ours_raw"], timings["mangum_raw_off"], ">= 2.5x"))
    print(row("raw ASGI, v2 event vs Mangum default", timings["ours_raw"], timings["mangum_raw_auto"], ">= 6x"))
    print(row("FastAPI, v2 event vs Mangum default", timings["ours_fastapi"], timings["mangum_fastapi_auto"], ">= 1.5x"))
    print(row("import lambda_asgi vs import mangum", imports["lambda_asgi"], imports["mangum"], ">= 1.0x"))
    floor_ratio = timings["ours_raw"] / timings["floor"]
    print()
    print(
        f"floor (loop.run_until_complete(app(...)), prebuilt scope): {timings['floor'] * 1e6:.1f} us;"
        f" lambda-asgi raw = {floor_ratio:.2f}x the floor (target <= 1.3x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
