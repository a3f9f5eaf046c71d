"""Clean-up Blueprint: the scan (timer) and the worker (queue)."""

import azure.functions as func

from ..settings import get_settings
from ..triggers import handle_queue_message, run_timer
from ..work import parse
from .scan import scan_cleanup
from .worker import CleanupMessage, clean

bp = func.Blueprint()


@bp.function_name("cleanup_scan")
@bp.timer_trigger(arg_name="timer", schedule="%CLEANUP_SCAN_SCHEDULE%", run_on_startup=False)
def cleanup_scan(timer: func.TimerRequest) -> None:
    run_timer("cleanup_scan", timer, scan_cleanup)


@bp.function_name("cleanup_work")
@bp.queue_trigger(arg_name="msg", queue_name="%CLEANUP_QUEUE%", connection="AzureWebJobsStorage")
def cleanup_work(msg: func.QueueMessage) -> None:
    handle_queue_message(msg, get_settings().cleanup_queue, lambda body: clean(parse(CleanupMessage, body)))
