"""AdapterConfig: which response bodies travel as text."""

from __future__ import annotations

import pytest

from lambda_asgi.config import AdapterConfig


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("text/html; charset=utf-8", True),
        ("text/x-anything", True),
        ("application/problem+json", True),
        ("application/atom+xml", True),
        ("image/svg+xml", True),
        ("image/png", False),
        ("application/octet-stream", False),
        ("application/x-protobuf", False),
        ("", False),
    ],
)
def test_text_types_by_content_type(content_type: str, text: bool) -> None:
    assert AdapterConfig().text_types[content_type] is text


def test_extra_text_mime_types_extend_the_defaults() -> None:
    config = AdapterConfig.build(text_mime_types=["application/x-protobuf"])
    assert config.text_types["application/x-protobuf"] is True
    assert config.text_types["application/json"] is True
    assert config.text_types["image/png"] is False


def test_text_types_stay_bounded() -> None:
    text_types = AdapterConfig().text_types
    for n in range(1000):
        assert text_types[f"application/x-{n}"] is False
    assert 0 < len(text_types) <= 256
    assert text_types["text/plain"] is True
