"""Shipping Blueprint: label and tracking scans (timers) and their workers (queues)."""

import azure.functions as func

from ..settings import get_settings
from ..triggers import handle_queue_message, run_timer
from ..work import parse
from .labels import LabelMessage, create_label
from .scan import scan_labels, scan_tracking
from .tracking import TrackMessage, track_shipment

bp = func.Blueprint()


@bp.function_name("shipping_labels_scan")
@bp.timer_trigger(arg_name="timer", schedule="%SHIPPING_LABELS_SCHEDULE%", run_on_startup=False)
def shipping_labels_scan(timer: func.TimerRequest) -> None:
    run_timer("shipping_labels_scan", timer, scan_labels)


@bp.function_name("shipping_label")
@bp.queue_trigger(arg_name="msg", queue_name="%LABEL_REQUESTS_QUEUE%", connection="AzureWebJobsStorage")
def shipping_label(msg: func.QueueMessage) -> None:
    handle_queue_message(msg, get_settings().label_requests_queue, lambda body: create_label(parse(LabelMessage, body)))


@bp.function_name("shipping_tracking_scan")
@bp.timer_trigger(arg_name="timer", schedule="%TRACKING_SCAN_SCHEDULE%", run_on_startup=False)
def shipping_tracking_scan(timer: func.TimerRequest) -> None:
    run_timer("shipping_tracking_scan", timer, scan_tracking)


@bp.function_name("shipping_track")
@bp.queue_trigger(arg_name="msg", queue_name="%TRACKING_QUEUE%", connection="AzureWebJobsStorage")
def shipping_track(msg: func.QueueMessage) -> None:
    handle_queue_message(msg, get_settings().tracking_queue, lambda body: track_shipment(parse(TrackMessage, body)))
