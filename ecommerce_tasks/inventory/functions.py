"""Inventory Blueprint: the stock scan (timer) and the stock worker (queue)."""

import azure.functions as func

from ..settings import get_settings
from ..triggers import handle_queue_message, run_timer
from ..work import parse
from .scan import scan_stock_work
from .worker import ApplyMessage, apply_stock

bp = func.Blueprint()


@bp.function_name("inventory_scan")
@bp.timer_trigger(arg_name="timer", schedule="%INVENTORY_SCAN_SCHEDULE%", run_on_startup=False)
def inventory_scan(timer: func.TimerRequest) -> None:
    run_timer("inventory_scan", timer, scan_stock_work)


@bp.function_name("inventory_apply")
@bp.queue_trigger(arg_name="msg", queue_name="%STOCK_UPDATES_QUEUE%", connection="AzureWebJobsStorage")
def inventory_apply(msg: func.QueueMessage) -> None:
    handle_queue_message(msg, get_settings().stock_updates_queue, lambda body: apply_stock(parse(ApplyMessage, body)))
