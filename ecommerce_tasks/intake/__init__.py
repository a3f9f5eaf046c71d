"""Shop intake: the inbound queue of JSON events, and a Python API for Python shops."""

from typing import Any

__all__ = ["ShopIntake"]


def __getattr__(name: str) -> Any:
    # Lazy, so that the families' own modules can import the event schemas from this package.
    if name == "ShopIntake":
        from .client import ShopIntake

        return ShopIntake
    raise AttributeError(name)
