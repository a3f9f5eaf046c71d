"""Operator tools for `<queue>-poison`: list with the recorded reason, replay (never losing one), purge."""

from __future__ import annotations

import base64
import binascii
import sys
from dataclasses import dataclass

from azure.storage.queue import QueueClient
from tqdm import tqdm

from ecommerce_tasks.storage.clients import raw_queue_client
from ecommerce_tasks.work import failure_for


@dataclass
class PoisonedMessage:
    queue: str
    message_id: str
    body: str
    dequeue_count: int
    reason: str


def _raw(name: str) -> QueueClient:
    return raw_queue_client(name, create=False)


def _text(content: str) -> str:
    try:
        return base64.b64decode(content, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return content


def list_poisoned(queue: str, limit: int = 32) -> list[PoisonedMessage]:
    poison = _raw(queue + "-poison")
    if not _exists(poison):
        return []
    found = []
    for message in poison.peek_messages(max_messages=min(limit, 32)):
        body = _text(message.content)
        record = failure_for(queue, body)
        reason = record["reason"] if record else "no failure recorded (failed before the worker ran)"
        # A poisoned copy is new to its queue (dequeue count 0): the tries are those of the original.
        tries = int(record.get("dequeue_count") or 0) if record else int(message.dequeue_count or 0)
        found.append(PoisonedMessage(queue, message.id, body, tries, reason))
    return found


def _exists(client: QueueClient) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        client.get_queue_properties()
        return True
    except ResourceNotFoundError:
        return False


def replay(queue: str, message_id: str | None = None, progress: bool = False) -> int:
    """Moves poisoned messages (one, or all) back to their queue: send first, then delete."""
    target = _raw(queue)
    # The content is already in the host's wire format.
    return _each(queue, message_id, lambda message: target.send_message(message.content), progress)


def purge(queue: str, message_id: str | None = None, progress: bool = False) -> int:
    """Deletes poisoned messages (one, or all) for good."""
    return _each(queue, message_id, lambda message: None, progress)


def _each(queue: str, message_id: str | None, act, progress: bool = False) -> int:
    """Receives the poison queue's messages and, for each one chosen, acts and then deletes it."""
    poison = _raw(queue + "-poison")
    if not _exists(poison):
        return 0
    total = None if message_id else poison.get_queue_properties().approximate_message_count
    moved = 0
    with tqdm(total=total, desc=f"{queue}-poison", unit=" msg", file=sys.stderr, disable=not progress or not total, mininterval=0.5) as bar:
        while True:
            batch = list(poison.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=60))
            if not batch:
                return moved
            for message in batch:
                if message_id and message.id != message_id:
                    poison.update_message(message, pop_receipt=message.pop_receipt, visibility_timeout=0)
                    continue
                act(message)
                poison.delete_message(message, pop_receipt=message.pop_receipt)
                moved += 1
                bar.update()
            if message_id:
                return moved
