"""translation_zoo: image-to-image translation models behind one Lightning API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .hub import from_official
    from .inference import load_model
    from .registry import list_models

# Resolved on first use (PEP 562), so that `import translation_zoo.nn` does not pull in Lightning and the data stack.
_LAZY = {"from_official": "hub", "load_model": "inference", "list_models": "registry"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", "from_official", "list_models", "load_model"]
