"""``make soak``: 100,000 mixed invocations of one warm adapter, in one process.

The mix is a Starlette app served through ``LambdaAdapter`` with HTTP API v2 events: JSON
answers, POST echoes, app exceptions (500), an ASGI protocol violation (500), streamed
responses buffered into one Lambda response, background tasks, and requests that run into the
deadline guard (504). Every response is checked (nothing may be lost or mixed up) and every
failure must log exactly one error line.

At the end of each tenth of the run the table records p50/p99 latency of that tenth (timeouts
left out: they wait for their deadline by design), the resident set size
(``/proc/self/statm``), the objects the garbage collector tracks and the tasks pending on the
loop. The run fails (exit 1) if memory or objects keep growing after the
first tenth (the warm-up) or if tasks pile up on the loop. Latency is printed, never judged:
machines are noisy.

    python benchmarks/soak.py [--invocations N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import logging
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from starlette.applications import Starlette  # noqa: E402
from starlette.background import BackgroundTask  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response, StreamingResponse  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402
from tests.events import http_api_v2_event  # noqa: E402

from lambda_asgi import LambdaAdapter, LambdaContext  # noqa: E402
from lambda_asgi.adapter import get_runner  # noqa: E402

#: RSS may grow this much after the warm-up tenth (allocator arenas, caches that settle).
RSS_GROWTH_LIMIT_MB = 8.0
#: GC-tracked objects may grow by at most one per this many invocations after the warm-up.
INVOCATIONS_PER_LEAKED_OBJECT = 100

STREAM_CHUNKS = 8
CHUNK = b"x" * 1024


# -- the app ------------------------------------------------------------------------------


def build_app(background_done: Counter[str]) -> Starlette:
    """The app under soak; ``background_done`` counts finished background tasks."""

    async def item(request: Request) -> JSONResponse:
        return JSONResponse({"id": int(request.path_params["id"]), "name": "widget"})

    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")

    async def fail(request: Request) -> Response:
        raise RuntimeError("soak: the app failed on purpose")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(STREAM_CHUNKS):
            await asyncio.sleep(0)
            yield CHUNK

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="application/octet-stream")

    def note_done() -> None:
        background_done["done"] += 1

    async def background(request: Request) -> Response:
        return Response("queued", media_type="text/plain", background=BackgroundTask(note_done))

    async def slow(request: Request) -> Response:
        await asyncio.sleep(3600)
        return Response("never")

    async def str_body(scope: Any, receive: Any, send: Any) -> None:
        # Breaks the ASGI protocol: a str body.
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": "not bytes"})

    return Starlette(
        routes=[
            Route("/items/{id:int}", item),
            Route("/echo", echo, methods=["POST"]),
            Route("/fail", fail),
            Route("/stream", stream),
            Route("/background", background),
            Route("/slow", slow),
            Mount("/raw", app=str_body),
        ]
    )


# -- the mix ----------------------------------------------------------------------------

#: (kind, how many in a cycle of 500 invocations)
MIX = [
    ("item", 300),
    ("echo", 60),
    ("stream", 50),
    ("background", 40),
    ("fail", 30),
    ("protocol", 19),
    ("timeout", 1),
]
CYCLE = [kind for kind, count in MIX for _ in range(count)]
ERROR_KINDS = {"fail", "protocol", "timeout"}


def event_for(kind: str, i: int) -> dict[str, Any]:
    """The event of invocation ``i`` of ``kind``."""
    if kind == "item":
        return http_api_v2_event("GET", f"/items/{i}")
    if kind == "echo":
        return http_api_v2_event("POST", "/echo", body=f"payload-{i}".encode(), binary=True)
    path = {"protocol": "/raw/", "timeout": "/slow"}.get(kind, f"/{kind}")
    return http_api_v2_event("GET", path)


def check(kind: str, i: int, result: dict[str, Any]) -> bool:
    """Whether ``result`` is exactly what invocation ``i`` of ``kind`` must return."""
    status = result["statusCode"]
    body = result["body"]
    if kind == "item":
        return status == 200 and body == f'{{"id":{i},"name":"widget"}}'
    if kind == "echo":
        return status == 200 and base64.b64decode(body) == f"payload-{i}".encode()
    if kind == "stream":
        return status == 200 and base64.b64decode(body) == CHUNK * STREAM_CHUNKS
    if kind == "background":
        return status == 200 and body == "queued"
    if kind == "fail":
        # Starlette's ServerErrorMiddleware answers its own 500, then re-raises (logged).
        return status == 500 and body == "Internal Server Error"
    if kind == "protocol":
        return status == 500 and body == '{"message": "Internal Server Error"}'
    if kind == "timeout":
        return status == 504
    raise ValueError(kind)


# -- measuring --------------------------------------------------------------------------


def rss_mb() -> float:
    """Current resident set size in MB (peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class CountingHandler(logging.Handler):
    """Counts the records ``lambda_asgi`` logs, by level, without formatting them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname] += 1


@dataclass
class Row:
    """Figures at the end of one tenth of the run."""

    invocations: int
    p50_us: float
    p99_us: float
    rss_mb: float
    objects: int
    tasks: int


@dataclass
class SoakReport:
    """What a soak run measured."""

    invocations: int
    rows: list[Row] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    logged: Counter[str] = field(default_factory=Counter)
    background_done: int = 0
    baseline_tasks: int = 0
    seconds: float = 0.0

    @property
    def rss_growth_mb(self) -> float:
        """RSS growth from the end of the warm-up tenth to the end of the run."""
        return self.rows[-1].rss_mb - self.rows[0].rss_mb

    @property
    def object_growth(self) -> int:
        """Growth of GC-tracked objects from the end of the warm-up tenth to the end."""
        return self.rows[-1].objects - self.rows[0].objects

    def problems(self) -> list[str]:
        """Every bound the run broke (empty when it passed)."""
        found = []
        if self.wrong:
            found.append(f"{len(self.wrong)} wrong responses, first: {self.wrong[0]}")
        expected_errors = sum(self.kinds[k] for k in ERROR_KINDS)
        if self.logged["ERROR"] != expected_errors:
            found.append(f"{self.logged['ERROR']} error log lines for {expected_errors} failures")
        if self.background_done != self.kinds["background"]:
            found.append(
                f"{self.background_done} of {self.kinds['background']} background tasks ran"
            )
        if self.rss_growth_mb > RSS_GROWTH_LIMIT_MB:
            found.append(f"RSS grew {self.rss_growth_mb:.1f} MB after warm-up")
        allowed = max(200, self.invocations // INVOCATIONS_PER_LEAKED_OBJECT)
        if self.object_growth > allowed:
            found.append(f"{self.object_growth} more GC objects after warm-up (allowed {allowed})")
        piled = max(row.tasks for row in self.rows)
        if piled > self.baseline_tasks:
            found.append(f"{piled} tasks pending on the loop (baseline {self.baseline_tasks})")
        return found

    def table(self) -> str:
        """The per-tenth table, then the totals."""
        lines = [
            f"{'tenth':>5} {'invocations':>11} {'p50 us':>8} {'p99 us':>8} {'RSS MB':>8} "
            f"{'objects':>8} {'tasks':>5}"
        ]
        for n, row in enumerate(self.rows, 1):
            lines.append(
                f"{n:>5} {row.invocations:>11} {row.p50_us:>8.0f} {row.p99_us:>8.0f} "
                f"{row.rss_mb:>8.1f} {row.objects:>8} {row.tasks:>5}"
            )
        first, last = self.rows[0], self.rows[-1]
        lines += [
            f"mix: {dict(sorted(self.kinds.items()))}",
            f"log lines: {dict(self.logged)}; background tasks run: {self.background_done}",
            f"wrong responses: {len(self.wrong)}; wall time {self.seconds:.1f} s",
            f"after warm-up: RSS {self.rss_growth_mb:+.2f} MB, objects {self.object_growth:+d}, "
            f"p99 last/first tenth {last.p99_us / first.p99_us:.2f}x",
        ]
        return "\n".join(lines)


def percentile(sorted_values: list[int], fraction: float) -> float:
    """The ``fraction`` percentile of ascending ``sorted_values`` (nearest rank)."""
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return float(sorted_values[index])


def run_soak(invocations: int) -> SoakReport:
    """Serve ``invocations`` mixed requests through one adapter and measure."""
    background_done: Counter[str] = Counter()
    adapter = LambdaAdapter(build_app(background_done), timeout_margin_ms=20)
    loop = get_runner().get_loop()
    report = SoakReport(invocations, baseline_tasks=len(asyncio.all_tasks(loop)))
    handler = CountingHandler()
    log = logging.getLogger("lambda_asgi")
    saved = (log.handlers[:], log.propagate, log.level)
    log.handlers, log.propagate, log.level = [handler], False, logging.WARNING
    context = LambdaContext()  # no deadline: the guard is armed far away
    tenth = max(1, invocations // 10)
    latencies: list[int] = []
    started = time.perf_counter()
    try:
        for i in range(invocations):
            kind = CYCLE[i % len(CYCLE)]
            event = event_for(kind, i)
            ctx = LambdaContext.local(timeout_s=0.05) if kind == "timeout" else context
            begin = time.perf_counter_ns()
            result = adapter(event, ctx)
            if kind != "timeout":  # those wait for their deadline by design
                latencies.append(time.perf_counter_ns() - begin)
            report.kinds[kind] += 1
            if not check(kind, i, result):
                report.wrong.append(f"#{i} {kind}: {result!r}"[:300])
            if (i + 1) % tenth == 0 or i + 1 == invocations:
                latencies.sort()
                gc.collect()
                report.rows.append(
                    Row(
                        invocations=i + 1,
                        p50_us=percentile(latencies, 0.50) / 1000,
                        p99_us=percentile(latencies, 0.99) / 1000,
                        rss_mb=rss_mb(),
                        objects=len(gc.get_objects()),
                        tasks=len(asyncio.all_tasks(loop)),
                    )
                )
                latencies = []
    finally:
        log.handlers, log.propagate, log.level = saved
        adapter.shutdown()
    report.seconds = time.perf_counter() - started
    report.logged = handler.counts
    report.background_done = background_done["done"]
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the soak, print the table, exit 1 if a bound was broken."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=100_000)
    args = parser.parse_args(argv)
    report = run_soak(args.invocations)
    print(report.table())
    problems = report.problems()
    for problem in problems:
        print(f"FAIL: {problem}")
    if not problems:
        print("OK: no response lost, memory and tasks bounded")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
