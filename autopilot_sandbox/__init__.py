"""A sandbox provider server shipped with the project (as Stripe ships stripe-mock)."""

from .keys import SANDBOX_ACS_KEY, SANDBOX_SENDCLOUD_KEYS
from .server import SandboxClient, SandboxServer

__all__ = ["SANDBOX_ACS_KEY", "SANDBOX_SENDCLOUD_KEYS", "SandboxClient", "SandboxServer"]
