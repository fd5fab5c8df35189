"""Shared fixtures: the third-party event corpus and small event builders."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "events-corpus"


def corpus_index() -> list[dict[str, Any]]:
    """The corpus index (empty when ../shared/events-corpus is absent)."""
    index = CORPUS / "index.json"
    if not index.exists():
        return []
    entries: list[dict[str, Any]] = json.loads(index.read_text())
    return entries


def corpus_entries(*kinds: str) -> list[Any]:
    """pytest params ``(entry, event)`` of the corpus events of ``kinds`` (all when empty)."""
    entries = [e for e in corpus_index() if not kinds or e["kind"] in kinds]
    if not entries:
        return [pytest.param(None, None, marks=pytest.mark.skip(reason="no events corpus"))]
    return [
        pytest.param(e, json.loads((CORPUS / e["file"]).read_text()), id=e["file"]) for e in entries
    ]


@pytest.fixture(autouse=True)
def _restore_lambda_asgi_logger() -> Iterator[None]:
    """Undo what a test does to the ``lambda_asgi`` logger (Powertools' Logger, for one,
    takes it over and stops propagation), so that later tests still see its records."""
    logger = logging.getLogger("lambda_asgi")
    saved = (logger.level, logger.propagate, list(logger.handlers), logger.disabled)
    yield
    logger.setLevel(saved[0])
    logger.propagate = saved[1]
    logger.handlers[:] = saved[2]
    logger.disabled = saved[3]
