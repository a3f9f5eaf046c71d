"""Intake Blueprint: the inbound queue of shop events."""

import azure.functions as func

from ..settings import get_settings
from ..triggers import handle_queue_message
from .apply import apply_event, parse_event

bp = func.Blueprint()


@bp.function_name("intake_shop_events")
@bp.queue_trigger(arg_name="msg", queue_name="%SHOP_EVENTS_QUEUE%", connection="AzureWebJobsStorage")
def intake_shop_events(msg: func.QueueMessage) -> None:
    handle_queue_message(msg, get_settings().shop_events_queue, lambda body: apply_event(parse_event(body)))
