"""A short soak (5,000 mixed invocations) in the normal suite; ``make soak`` runs 100,000.

Asserts what does not depend on the machine's speed: no response lost or mixed up, one error
log line per failure, every background task run, no task left pending on the loop, and no
growth of memory or of GC-tracked objects after the warm-up.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_soak() -> ModuleType:
    """``benchmarks/soak.py`` as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "lambda_asgi_soak", ROOT / "benchmarks" / "soak.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


soak = load_soak()


def test_short_soak_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    report = soak.run_soak(5_000)
    with capsys.disabled():
        print(f"\n[soak] 5,000 invocations\n{report.table()}")
    assert report.wrong == []
    assert report.kinds["timeout"] == 10 and report.kinds["protocol"] == 190
    assert report.logged["ERROR"] == sum(report.kinds[k] for k in soak.ERROR_KINDS)
    assert report.background_done == report.kinds["background"]
    assert [row.tasks for row in report.rows] == [report.baseline_tasks] * 10
    assert report.rss_growth_mb < soak.RSS_GROWTH_LIMIT_MB
    assert report.object_growth < 200
    assert report.problems() == []


def row(rss_mb: float, objects: int, tasks: int) -> object:
    return soak.Row(invocations=0, p50_us=1, p99_us=1, rss_mb=rss_mb, objects=objects, tasks=tasks)


@pytest.mark.parametrize(
    ("last", "problem"),
    [
        ((40.0, 1_000, 1), "RSS grew 10.0 MB after warm-up"),
        ((30.0, 20_000, 1), "19000 more GC objects after warm-up (allowed 1000)"),
        ((30.0, 1_000, 7), "7 tasks pending on the loop (baseline 1)"),
    ],
)
def test_soak_bounds_catch_growth(last: tuple[float, int, int], problem: str) -> None:
    """The bounds are real: a leak of each kind fails the run."""
    report = soak.SoakReport(100_000, baseline_tasks=1)
    report.rows = [row(30.0, 1_000, 1), row(*last)]
    assert report.problems() == [problem]
