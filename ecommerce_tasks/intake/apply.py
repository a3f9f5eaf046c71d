"""Routes each shop event to the family that owns it. Which family takes which event type is
wired by the composition root (function_app.py); this package knows none of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..shop_events import SHOP_EVENT, ShopEventModel
from ..work import parse

_handlers: dict[type, Callable[[Any], object]] = {}


def accept(model: type, handler: Callable[[Any], object]) -> None:
    """handler(event) applies every valid shop event of this model (it must be idempotent)."""
    _handlers[model] = handler


def parse_event(body: str) -> ShopEventModel:
    return parse(SHOP_EVENT, body, "shop event")


def apply_event(event: ShopEventModel) -> None:
    handler = _handlers.get(type(event))
    if handler is None:
        raise RuntimeError(f"no family takes {type(event).__name__} events: import function_app, which wires them")
    handler(event)
