"""Validated adapter configuration shared by the event sources."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import ConfigurationError

__all__ = ["DEFAULT_TEXT_MIME_TYPES", "AdapterConfig", "TextTypes", "normalize_base_path"]

#: Content types whose bodies are returned as text (everything else is base64).
DEFAULT_TEXT_MIME_TYPES: frozenset[str] = frozenset(
    {
        "text/*",
        "application/json",
        "application/javascript",
        "application/ecmascript",
        "application/xml",
        "application/xhtml+xml",
        "application/x-www-form-urlencoded",
        "application/graphql",
        "application/ld+json",
        "application/x-ndjson",
        "application/yaml",
        "application/x-yaml",
        "image/svg+xml",
        "*/*+json",
        "*/*+xml",
    }
)


def normalize_base_path(base_path: str | None) -> str:
    """``"api/v1/"`` -> ``"/api/v1"``; ``None``, ``""`` and ``"/"`` -> ``""``."""
    if not base_path:
        return ""
    stripped = base_path.strip("/")
    return f"/{stripped}" if stripped else ""


class AdapterConfig:
    """Options the event sources read while building scopes and responses (read-only)."""

    __slots__ = ("base_path", "exclude_headers", "text_mime_types", "text_types")

    def __init__(
        self,
        base_path: str = "",
        text_mime_types: frozenset[str] = DEFAULT_TEXT_MIME_TYPES,
        exclude_headers: frozenset[str] = frozenset(),
    ) -> None:
        self.base_path = base_path
        self.text_mime_types = text_mime_types
        self.exclude_headers = exclude_headers
        #: Content type (as the app sent it) -> whether such a body can travel as text.
        self.text_types = TextTypes(text_mime_types)

    def __repr__(self) -> str:
        return (
            f"AdapterConfig(base_path={self.base_path!r}, "
            f"text_mime_types={sorted(self.text_mime_types)!r}, "
            f"exclude_headers={sorted(self.exclude_headers)!r})"
        )

    @classmethod
    def build(
        cls,
        *,
        base_path: str | None = None,
        text_mime_types: Iterable[str] = (),
        exclude_headers: Iterable[str] = (),
    ) -> AdapterConfig:
        """Validate and normalise user options (extra text types extend the defaults)."""
        if isinstance(text_mime_types, str) or isinstance(exclude_headers, str):
            raise ConfigurationError(
                "text_mime_types and exclude_headers take a list of strings, not one string"
            )
        extra = {t.strip().lower() for t in text_mime_types if t.strip()}
        for mime in extra:
            if "/" not in mime:
                raise ConfigurationError(
                    f"text_mime_types entry {mime!r} is not a MIME type like 'application/x-foo'"
                )
        return cls(
            base_path=normalize_base_path(base_path),
            text_mime_types=DEFAULT_TEXT_MIME_TYPES | extra,
            exclude_headers=frozenset(h.strip().lower() for h in exclude_headers if h.strip()),
        )


class TextTypes(dict[str, bool]):
    """``text_types[content_type]``: whether a body of that type can travel as text (else
    base64), ignoring its content encoding. Worked out once per distinct content type (an app
    uses few) and read with one lookup, no call."""

    __slots__ = ("text_mime_types",)

    def __init__(self, text_mime_types: frozenset[str]) -> None:
        super().__init__()
        self.text_mime_types = text_mime_types

    def __missing__(self, content_type: str) -> bool:
        if len(self) >= 256:
            self.clear()  # a bound against apps that vary the type per request
        known = self[content_type] = self._is_text(content_type)
        return known

    def _is_text(self, content_type: str) -> bool:
        if not content_type:
            return False
        mime = content_type.split(";", 1)[0].strip().lower()
        types = self.text_mime_types
        if mime in types:
            return True
        major, _, minor = mime.partition("/")
        if f"{major}/*" in types:
            return True
        _, plus, suffix = minor.rpartition("+")
        return bool(plus) and f"*/*+{suffix}" in types
