"""Notifications Blueprint: the e-mail worker (queue), fed by the other families' outboxes."""

import azure.functions as func

from ..settings import get_settings
from ..triggers import handle_queue_message
from ..work import parse
from .worker import NotifyMessage, send_notification

bp = func.Blueprint()


@bp.function_name("notifications_send")
@bp.queue_trigger(arg_name="msg", queue_name="%NOTIFICATIONS_QUEUE%", connection="AzureWebJobsStorage")
def notifications_send(msg: func.QueueMessage) -> None:
    handle_queue_message(msg, get_settings().notifications_queue, lambda body: send_notification(parse(NotifyMessage, body)))
