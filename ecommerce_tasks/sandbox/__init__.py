"""A sandbox provider server shipped with the project (as Stripe ships stripe-mock)."""

from .server import SandboxClient, SandboxServer

__all__ = ["SandboxClient", "SandboxServer"]
