"""Loads function_app as the Python worker does (root logger at INFO with a handler that forwards
every record) and makes storage requests; prints the records that reached root as JSON lines."""

from __future__ import annotations

import json
import logging
import sys

records: list[logging.LogRecord] = []


class Forward(logging.Handler):  # what the worker's handler does: every record goes to the host
    def emit(self, record: logging.LogRecord) -> None:
        records.append(record)


logging.getLogger().setLevel(logging.INFO)
logging.getLogger().addHandler(Forward())

import function_app  # noqa: E402,F401  - the worker imports the app after setting up logging

from ecommerce_tasks.settings import get_settings  # noqa: E402
from ecommerce_tasks.storage import enqueue, table_client  # noqa: E402

settings = get_settings()
before = len(records)
for i in range(3):
    enqueue(settings.shop_events_queue, {"probe": i})
    list(table_client(settings.table("orders")).query_entities("PartitionKey eq @p", parameters={"p": "none"}))
json.dump([{"name": r.name, "level": r.levelname} for r in records[before:]], sys.stdout)
