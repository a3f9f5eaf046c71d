"""The Python API of the intake, for shops written in Python."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from ..settings import get_settings
from ..storage import enqueue
from ..shop_events import ShopEventModel
from .apply import apply_event, parse_event


class ShopIntake:
    """Send events through the inbound queue (`send`) or apply them right away (`apply`).

    Both validate against the same schema as the language-neutral queue path and raise
    `ecommerce_tasks.work.PermanentError` naming what is wrong.
    """

    def send(self, event: dict[str, Any] | BaseModel) -> None:
        parsed = self._validate(event)
        enqueue(get_settings().shop_events_queue, json.loads(parsed.model_dump_json()))

    def apply(self, event: dict[str, Any] | BaseModel) -> None:
        apply_event(self._validate(event))

    @staticmethod
    def _validate(event: dict[str, Any] | BaseModel) -> ShopEventModel:
        body = event.model_dump_json() if isinstance(event, BaseModel) else json.dumps(event, default=str)
        return parse_event(body)
