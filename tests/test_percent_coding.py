"""The sources' percent-coding agrees exactly with urllib.parse, which it replaces."""

from __future__ import annotations

from urllib.parse import quote, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambda_asgi.events import base

# Text as paths and queries carry it: escapes (valid, truncated, invalid UTF-8), reserved and
# unreserved characters, spaces, non-ASCII letters.
_PIECES = st.sampled_from(
    ["%", "%2", "%2F", "%2f", "%C3", "%A9", "%C3%A9", "%E2%82%AC", "%FF", "%zz", "%%", "+",
     " ", "/", "?", "&", "=", "~", "a", "Z", "0", ".", "-", "_", "\u00e9", "\u20ac", "\x00",
     "\x7f", "#", "[", "]", "@", ":", ";", "!", "*", "'", "(", ")", ","]
)  # fmt: skip
_TEXT = st.lists(_PIECES | st.text(max_size=3), max_size=12).map("".join)
# The safe sets the sources use: none (query keys and values), a path's, encoded text's.
_NO_SURROGATES = _TEXT.filter(lambda text: not any("\ud800" <= c <= "\udfff" for c in text))
_SAFE_SETS = ["", base._PATH_SAFE, base._ENCODED_SAFE]


@given(_TEXT)
def test_unquote_is_urllibs(text: str) -> None:
    assert base.unquote(text) == unquote(text)


@pytest.mark.parametrize("safe", _SAFE_SETS)
@given(text=_NO_SURROGATES)
def test_quote_is_urllibs(safe: str, text: str) -> None:
    assert base._quote(text, safe) == quote(text, safe=safe)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("/plain/path", "/plain/path"),
        ("/a%2Fb", "/a/b"),
        ("caf%C3%A9", "caf\u00e9"),
        ("caf%c3%a9", "caf\u00e9"),
        ("%C3", "\ufffd"),
        ("100%", "100%"),
        ("%zz%2", "%zz%2"),
        ("a+b", "a+b"),
        ("caf\u00e9%20menu", "caf\u00e9 menu"),
    ],
)
def test_unquote_table(text: str, expected: str) -> None:
    assert base.unquote(text) == expected


@pytest.mark.parametrize(
    ("text", "safe", "expected"),
    [
        ("a b+c", "", "a%20b%2Bc"),
        ("/caf\u00e9 menu", base._PATH_SAFE, "/caf%C3%A9%20menu"),
        ("https://example.com/a?b=c", "", "https%3A%2F%2Fexample.com%2Fa%3Fb%3Dc"),
        ("50%25 off", base._ENCODED_SAFE, "50%25%20off"),
        ("~-._", "", "~-._"),
    ],
)
def test_quote_table(text: str, safe: str, expected: str) -> None:
    assert base._quote(text, safe) == expected


def test_quote_refuses_a_lone_surrogate_as_urllib_does() -> None:
    with pytest.raises(UnicodeEncodeError):
        base._quote("/\ud800", base._PATH_SAFE)


_QUERY_NAMES = _NO_SURROGATES | st.sampled_from(["a", "b=c", "d&e", "="])
_QUERY_VALUES = _NO_SURROGATES | st.sampled_from(["1", "x&y", "=", "&"])


@given(st.lists(st.tuples(_QUERY_NAMES, _QUERY_VALUES), max_size=5))
def test_encode_query_quotes_each_name_and_value(pairs: list[tuple[str, str]]) -> None:
    """Also when the fast path (one search over the whole query) applies."""
    expected = "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in pairs)
    assert base.encode_query(pairs) == expected.encode("ascii")
