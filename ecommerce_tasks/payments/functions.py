"""Payments Blueprint: due scan (timer), payment check (queue), provider webhooks (HTTP)."""

import logging

import azure.functions as func

from ..settings import get_settings
from ..triggers import handle_queue_message, run_timer
from ..work import parse
from .capture import run_payment_work
from .check import CheckMessage
from .scan import scan_due_payments
from .webhook import BadWebhook, accept_webhook

log = logging.getLogger("ecommerce_tasks.payments")

bp = func.Blueprint()


@bp.function_name("payments_scan")
@bp.timer_trigger(arg_name="timer", schedule="%PAYMENTS_SCAN_SCHEDULE%", run_on_startup=False)
def payments_scan(timer: func.TimerRequest) -> None:
    run_timer("payments_scan", timer, scan_due_payments)


@bp.function_name("payments_check")
@bp.queue_trigger(arg_name="msg", queue_name="%PAYMENT_CHECKS_QUEUE%", connection="AzureWebJobsStorage")
def payments_check(msg: func.QueueMessage) -> None:
    handle_queue_message(msg, get_settings().payment_checks_queue, lambda body: run_payment_work(parse(CheckMessage, body)))


@bp.function_name("payments_webhook")
@bp.route(route="payments/webhook/{provider}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def payments_webhook(req: func.HttpRequest) -> func.HttpResponse:
    provider = req.route_params.get("provider", "")
    try:
        payment_id = accept_webhook(provider, req.get_body(), req.headers.get("content-type", ""), {"stripe-signature": req.headers.get("stripe-signature", "")})
    except BadWebhook as exc:
        log.warning("payments webhook rejected: %s", exc)
        return func.HttpResponse(str(exc), status_code=400)
    log.info("payments webhook: %s payment %s queued for a check", provider, payment_id)
    return func.HttpResponse("ok", status_code=200)
