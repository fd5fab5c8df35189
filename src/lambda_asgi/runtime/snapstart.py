"""SnapStart runtime hooks, from ``snapshot_restore_py`` when the function ships it.

AWS's runtime runs the before-snapshot hooks in reverse order of registration and the
after-restore hooks in order; so do we. Without ``snapshot_restore_py`` there are no hooks
(the restore protocol itself still runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["run_after_restore", "run_before_snapshot"]

_Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def _registry(getter: str) -> list[_Hook]:
    try:
        import snapshot_restore_py  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return []
    hooks: list[_Hook] = getattr(snapshot_restore_py, getter)()
    return hooks


def run_before_snapshot() -> None:
    """Run (and consume) the before-snapshot hooks, last registered first."""
    hooks = _registry("get_before_snapshot")
    while hooks:
        func, args, kwargs = hooks.pop()
        func(*args, **kwargs)


def run_after_restore() -> None:
    """Run the after-restore hooks in registration order."""
    for func, args, kwargs in _registry("get_after_restore"):
        func(*args, **kwargs)
