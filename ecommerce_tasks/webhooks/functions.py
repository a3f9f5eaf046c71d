"""Webhooks Blueprint: one queue function delivering each outbound event to the shop."""

import azure.functions as func

from ..settings import get_settings
from ..triggers import handle_queue_message
from ..work import parse
from .delivery import DeliveryMessage, deliver

bp = func.Blueprint()


@bp.function_name("webhooks_deliver")
@bp.queue_trigger(arg_name="msg", queue_name="%WEBHOOK_QUEUE%", connection="AzureWebJobsStorage")
def webhooks_deliver(msg: func.QueueMessage) -> None:
    handle_queue_message(msg, get_settings().webhook_queue, lambda body: deliver(parse(DeliveryMessage, body)))
