"""Shared fixtures: the third-party event corpus and small event builders."""

from __future__ import annotations

import json
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
