"""``make bench-instructions``: instructions per warm invocation, lambda-asgi vs Mangum.

Wall-clock ratios on a shared machine swing by tens of percent between runs; valgrind's
callgrind counts instructions, which repeat exactly for the same code and inputs. Each case is
run twice under callgrind, with 0 and with N invocations after the same warm-up, and the
difference divided by N is the cost of one invocation. Needs valgrind (Debian: valgrind).

    python benchmarks/instructions.py            # every case (a few minutes)
    python benchmarks/instructions.py --case ID  # internal: run one case N times
"""

from __future__ import annotations

import argparse
import compileall
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CALLS = 1000
WARM_UP = 50

#: (label, our case, Mangum's case, target speed-up or None)
ROWS = [
    ("raw ASGI, HTTP API v2 vs lifespan=off", "ours:raw:v2", "mangum-off:raw:v2", 2.5),
    ("raw ASGI, HTTP API v2 vs default", "ours:raw:v2", "mangum:raw:v2", 6.0),
    ("FastAPI, HTTP API v2 vs default", "ours:fastapi:v2", "mangum:fastapi:v2", 1.5),
    ("raw ASGI, REST API v1 vs lifespan=off", "ours:raw:rest", "mangum-off:raw:rest", 2.5),
    ("raw ASGI, ALB vs lifespan=off", "ours:raw:alb", "mangum-off:raw:alb", 2.5),
    ("raw ASGI, Lambda@Edge vs lifespan=off", "ours:raw:edge", "mangum-off:raw:edge", 2.5),
    # No target: how percent-coding (a non-ASCII path, a query to encode) weighs on both.
    (
        "raw ASGI, REST API v1, encoded path and query vs lifespan=off",
        "ours:raw:rest-encoded",
        "mangum-off:raw:rest-encoded",
        None,
    ),
]


def build_case(case: str) -> Any:
    """The zero-argument callable of one case: ``adapter:app:event``."""
    from benchmarks.run import fastapi_app, raw_app, sample_event
    from mangum import Mangum
    from tests.events import http_api_v2_event

    from lambda_asgi import LambdaAdapter, LambdaContext

    adapter_name, app_name, event_name = case.split(":")
    app = raw_app if app_name == "raw" else fastapi_app()
    events = {
        "v2": lambda: http_api_v2_event("GET", "/items/42", "q=abc"),
        "rest": lambda: sample_event("rest-v1-create-note.json"),
        "rest-encoded": lambda: sample_event("rest-v1-search-encoded.json"),
        "alb": lambda: sample_event("alb-icon.json"),
        "edge": lambda: sample_event("lambda-edge-origin-request-icon.json"),
    }
    event = events[event_name]()
    handler = {
        "ours": lambda: LambdaAdapter(app),
        "mangum": lambda: Mangum(app),
        "mangum-off": lambda: Mangum(app, lifespan="off"),
    }[adapter_name]()
    context = LambdaContext.local(900)
    return lambda: handler(event, context)


def callgrind(*arguments: str) -> int:
    """Instructions of a whole run of this interpreter with ``arguments``, under callgrind."""
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            *arguments,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def instructions(case: str, calls: int) -> int:
    """Instructions of a whole interpreter run of ``case`` with ``calls`` invocations."""
    return callgrind(__file__, "--case", case, "--calls", str(calls))


def import_instructions(module: str) -> int:
    """Instructions of an interpreter that imports ``module`` (from bytecode) and exits
    (``""``: that imports nothing)."""
    return callgrind("-c", f"import {module}" if module else "pass")


def per_call(case: str) -> float:
    """Instructions of one warm invocation of ``case``."""
    return (instructions(case, CALLS) - instructions(case, 0)) / CALLS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case")
    parser.add_argument("--calls", type=int, default=0)
    args = parser.parse_args()
    if args.case:
        func = build_case(args.case)
        for _ in range(WARM_UP + args.calls):
            func()
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind); nothing measured")
        return 0
    # Compiled once, before the parallel runs: an interpreter that finds stale bytecode
    # compiles the module (and may race another writing it), which would be counted.
    for module in ("lambda_asgi", "mangum"):
        compileall.compile_dir(str(Path(import_module(module).__file__).parent), quiet=1)  # type: ignore[arg-type]
    for folder in ("benchmarks", "tests"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)
    cases = sorted({case for _, ours, theirs, _ in ROWS for case in (ours, theirs)})
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(cases, pool.map(per_call, cases), strict=True))
    with ThreadPoolExecutor(max_workers=2) as pool:
        baseline, ours_total, mangum_total = pool.map(
            import_instructions, ["", "lambda_asgi", "mangum"]
        )
    # The interpreter's own start-up and exit are the same for both: count the import alone.
    ours_import, mangum_import = ours_total - baseline, mangum_total - baseline
    print(f"instructions per warm invocation (Python {sys.version.split()[0]}, callgrind)")
    print()
    print("| case | lambda-asgi | Mangum 0.22 | ratio | target |")
    print("|---|---|---|---|---|")
    for label, ours, theirs, target in ROWS:
        goal = "-" if target is None else f">= {target:g}x"
        print(
            f"| {label} | {counts[ours]:,.0f} | {counts[theirs]:,.0f} "
            f"| {counts[theirs] / counts[ours]:.2f}x | {goal} |"
        )
    print(
        f"| import (from bytecode) | {ours_import:,} | {mangum_import:,} "
        f"| {mangum_import / ours_import:.2f}x | >= 1x |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
