"""Table, queue and blob access shared by every family: clients created once, requests counted."""

from .clients import (
    REQUEST_COUNTER,
    RequestCounter,
    container_client,
    name_segment,
    put_blob,
    read_blob,
    enqueue,
    enqueue_many,
    queue_client,
    table_client,
    take_all,
)

__all__ = [
    "REQUEST_COUNTER",
    "RequestCounter",
    "container_client",
    "name_segment",
    "put_blob",
    "read_blob",
    "enqueue",
    "enqueue_many",
    "queue_client",
    "table_client",
    "take_all",
]
