"""Shop API Blueprint: events in, and an order's status, over HTTP with a function key."""

import json
import re

import azure.functions as func

from .events import accept_events
from .status import order_label, order_status

bp = func.Blueprint()
ORDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def _json(status: int, body: object) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@bp.function_name("shop_events_http")
@bp.route(route="events", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def shop_events_http(req: func.HttpRequest) -> func.HttpResponse:
    answer = accept_events(req.get_body(), req.headers.get("content-type", ""))
    return _json(answer.status, answer.body)


@bp.function_name("order_status_http")
@bp.route(route="orders/{order_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def order_status_http(req: func.HttpRequest) -> func.HttpResponse:
    order_id = req.route_params.get("order_id", "")
    status = order_status(order_id) if ORDER_ID.match(order_id) else None
    return _json(200, status) if status else _json(404, {"error": "unknown order"})


@bp.function_name("order_label_http")
@bp.route(route="orders/{order_id}/label", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def order_label_http(req: func.HttpRequest) -> func.HttpResponse:
    order_id = req.route_params.get("order_id", "")
    pdf = order_label(order_id) if ORDER_ID.match(order_id) else None
    if pdf is None:
        return _json(404, {"error": "no label for this order"})
    return func.HttpResponse(pdf, status_code=200, mimetype="application/pdf")
