"""Shop intake: the inbound queue of JSON events, and a Python API for Python shops."""

from .client import ShopIntake

__all__ = ["ShopIntake"]
