"""Sandbox carriers and e-mail providers, in their documented shapes and with their errors:

- Sendcloud v2 (HTTP Basic): POST /sendcloud/api/v2/parcels, GET .../parcels?order_number=,
  GET .../parcels/{id} (each read advances the parcel along its status script), and
  GET .../labels/label_printer/{id} (a real PDF). Errors {"error": {"code", "message", "request"}}.
- PostNL (header apikey): GET /postnl/shipment/v1_1/barcode, POST /postnl/shipment/v2_2/label
  (base64 PDF; the same barcode is the same shipment), GET /postnl/shipment/v2/status/barcode/{b}.
- SendGrid v3 (Bearer): POST /sendgrid/v3/mail/send -> 202; errors {"errors": [{"field", "message"}]}.
- ACS Email: POST /acs/emails:send (HMAC-SHA256 verified; Operation-Id makes a repeat the same
  operation), GET /acs/emails/operations/{id}.

A POST does its work before an injected delay, so a client timeout there is the "created, but
the answer was lost" case a carrier integration must survive.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from .keys import SANDBOX_ACS_KEY

# Sendcloud status scripts: each tracking read moves one step; the last repeats.
DEFAULT_SENDCLOUD_SCRIPT = [[1000, "Ready to send"], [3, "En route to sorting center"], [5, "Sorted"], [11, "Delivered"]]
DEFAULT_POSTNL_SCRIPT = [["1", "1", "Zending is voorgemeld"], ["3", "2", "Zending is gesorteerd"], ["11", "4", "Zending is bezorgd"]]


@dataclass
class Parcel:
    id: int
    order_number: str
    tracking_number: str
    data: dict[str, Any]
    script: list[list[Any]]
    reads: int = 0
    cancelled: bool = False

    def status(self, advance: bool) -> dict[str, Any]:
        code, message = self.script[min(self.reads, len(self.script) - 1)][:2]
        if advance:
            self.reads += 1
        return {"id": 2000 if self.cancelled else code, "message": "Cancelled" if self.cancelled else message}


@dataclass
class ShippingState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    parcels: dict[int, Parcel] = field(default_factory=dict)
    sendcloud_script: list[list[Any]] = field(default_factory=lambda: list(DEFAULT_SENDCLOUD_SCRIPT))
    postnl_script: list[list[Any]] = field(default_factory=lambda: list(DEFAULT_POSTNL_SCRIPT))
    postnl_barcodes: int = 0
    postnl_labels: dict[str, dict[str, Any]] = field(default_factory=dict)  # barcode -> shipment
    postnl_reads: dict[str, int] = field(default_factory=dict)
    emails: list[dict[str, Any]] = field(default_factory=list)
    acs_operations: dict[str, int] = field(default_factory=dict)  # operation id -> polls

    def reset(self) -> None:
        fresh = ShippingState()
        for name in ("parcels", "sendcloud_script", "postnl_script", "postnl_labels", "postnl_reads", "emails", "acs_operations"):
            setattr(self, name, getattr(fresh, name))
        self.postnl_barcodes = 0

    def summary(self) -> dict[str, Any]:
        return {
            "parcels": [
                {"id": p.id, "order_number": p.order_number, "tracking_number": p.tracking_number, "reads": p.reads, "cancelled": p.cancelled}
                for p in self.parcels.values()
            ],
            "postnl_labels": {barcode: shipment["labels"] for barcode, shipment in self.postnl_labels.items()},
            "emails": self.emails,
        }


Answer = tuple[int, Any, dict[str, str]]  # status, JSON body (or bytes), headers


def handle(state: ShippingState, method: str, path: str, query: str, headers: Any, raw: bytes, base_url: str) -> Answer | None:
    """Answers a provider call, or returns None when the path is not one of these providers."""
    if path.startswith("/sendcloud/api/v2/"):
        return _sendcloud(state, method, path[len("/sendcloud/api/v2") :], parse_qs(query), headers, raw, base_url)
    if path.startswith("/postnl/"):
        return _postnl(state, method, path[len("/postnl") :], headers, raw)
    if path.startswith("/sendgrid/v3/"):
        return _sendgrid(state, method, path[len("/sendgrid/v3") :], headers, raw)
    if path.startswith("/acs/"):
        return _acs(state, method, path, query, headers, raw, base_url)
    return None


def _json_body(raw: bytes) -> dict[str, Any]:
    import json

    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# -- Sendcloud -----------------------------------------------------------------------------------
def _sendcloud_error(code: int, message: str, request: str) -> Answer:
    return code, {"error": {"code": code, "message": message, "request": f"api/v2{request}"}}, {}


def _sendcloud(state: ShippingState, method: str, path: str, query: dict[str, list[str]], headers: Any, raw: bytes, base_url: str) -> Answer:
    auth = headers.get("Authorization", "")
    try:
        user, _, password = base64.b64decode(auth.split(" ", 1)[1]).decode().partition(":") if auth.startswith("Basic ") else ("", "", "")
    except (ValueError, IndexError):
        user, password = "", ""
    if not user or not password:
        return _sendcloud_error(401, "Invalid username/password.", path)
    with state.lock:
        if method == "POST" and path == "/parcels":
            parcel = _json_body(raw).get("parcel") or {}
            missing = [name for name in ("name", "address", "city", "postal_code", "country") if not parcel.get(name)]
            if missing:
                return _sendcloud_error(400, f"{', '.join(missing)}: This field is required.", path)
            if str(parcel.get("city")).lower() == "nowhere":
                return _sendcloud_error(412, "Address could not be verified: city 'Nowhere' does not exist.", path)
            parcel_id = 100_000 + len(state.parcels) + 1
            tracking = f"3SSCLD{parcel_id:09d}"
            state.parcels[parcel_id] = Parcel(parcel_id, str(parcel.get("order_number", "")), tracking, parcel, list(state.sendcloud_script))
            return 200, {"parcel": _parcel_json(state.parcels[parcel_id], base_url, advance=False)}, {}
        if method == "GET" and path == "/parcels":
            number = (query.get("order_number") or [""])[0]
            found = [_parcel_json(p, base_url, advance=False) for p in state.parcels.values() if not number or p.order_number == number]
            return 200, {"parcels": found}, {}
        if method == "GET" and path.startswith("/parcels/"):
            parcel = state.parcels.get(int(path.rsplit("/", 1)[1]) if path.rsplit("/", 1)[1].isdigit() else -1)
            if parcel is None:
                return _sendcloud_error(404, "No Parcel matches the given query.", path)
            return 200, {"parcel": _parcel_json(parcel, base_url, advance=True)}, {}
        if method == "GET" and path.startswith("/labels/label_printer/"):
            parcel = state.parcels.get(int(path.rsplit("/", 1)[1]))
            if parcel is None:
                return _sendcloud_error(404, "Not found.", path)
            return 200, _label_pdf(parcel.tracking_number, parcel.data), {"Content-Type": "application/pdf"}
    return _sendcloud_error(404, "Not found.", path)


def _parcel_json(parcel: Parcel, base_url: str, advance: bool) -> dict[str, Any]:
    label = f"{base_url}/sendcloud/api/v2/labels/label_printer/{parcel.id}"
    return {
        "id": parcel.id,
        "name": parcel.data.get("name"),
        "order_number": parcel.order_number,
        "tracking_number": parcel.tracking_number,
        "tracking_url": f"https://tracking.sendcloud.sc/forward?carrier=postnl&code={parcel.tracking_number}",
        "status": parcel.status(advance),
        "label": {"label_printer": label, "normal_printer": [f"{label}?start_from={n}" for n in range(4)]},
    }


def _label_pdf(tracking: str, recipient: dict[str, Any]) -> bytes:
    from ecommerce_tasks.providers.label_pdf import render_label

    to = {"name": recipient.get("name", ""), "street": recipient.get("address", recipient.get("street", "")),
          "house_number": recipient.get("house_number", ""), "postal_code": recipient.get("postal_code", ""),
          "city": recipient.get("city", ""), "country": recipient.get("country", "")}
    return render_label(tracking, f"https://tracking.example/{tracking}", {"name": "Sandbox carrier"}, to, recipient.get("order_number", ""))


# -- PostNL --------------------------------------------------------------------------------------
def _postnl(state: ShippingState, method: str, path: str, headers: Any, raw: bytes) -> Answer:
    if not headers.get("apikey"):
        return 401, {"fault": {"faultstring": "Invalid ApiKey", "detail": {"errorcode": "steps.oauth.v2.FailedToResolveAPIKey"}}}, {}
    with state.lock:
        if method == "GET" and path == "/shipment/v1_1/barcode":
            state.postnl_barcodes += 1
            return 200, {"Barcode": f"3SDEVC{state.postnl_barcodes:09d}"}, {}
        if method == "POST" and path == "/shipment/v2_2/label":
            body = _json_body(raw)
            shipment = (body.get("Shipments") or [{}])[0]
            address = (shipment.get("Addresses") or [{}])[0]
            missing = [name for name in ("Street", "Zipcode", "City", "Countrycode") if not address.get(name)]
            if missing or not shipment.get("Barcode"):
                return 400, {"Errors": [{"Code": "13", "Description": f"Required fields missing: {', '.join(missing) or 'Barcode'}"}]}, {}
            barcode = shipment["Barcode"]
            known = state.postnl_labels.setdefault(barcode, {"labels": 0, "address": address})
            known["labels"] += 1
            recipient = {"name": address.get("Name", ""), "street": address["Street"], "house_number": address.get("HouseNr", ""),
                         "postal_code": address["Zipcode"], "city": address["City"], "country": address["Countrycode"]}
            pdf = _label_pdf(barcode, {**recipient, "address": recipient["street"]})
            label = {"Content": base64.b64encode(pdf).decode(), "Labeltype": "Label", "OutputType": "PDF"}
            return 200, {"MergedLabels": [], "ResponseShipments": [{"Barcode": barcode, "Errors": [], "Warnings": [], "Labels": [label]}]}, {}
        if method == "GET" and path.startswith("/shipment/v2/status/barcode/"):
            barcode = path.rsplit("/", 1)[1]
            if barcode not in state.postnl_labels:
                return 404, {"Errors": [{"Code": "404", "Description": "Shipment not found"}]}, {}
            reads = state.postnl_reads.get(barcode, 0)
            code, phase, description = state.postnl_script[min(reads, len(state.postnl_script) - 1)]
            state.postnl_reads[barcode] = reads + 1
            status = {"StatusCode": code, "StatusDescription": description, "PhaseCode": phase}
            return 200, {"CurrentStatus": {"Shipment": {"Barcode": barcode, "Status": status}}}, {}
    return 404, {"Errors": [{"Code": "404", "Description": "Not found"}]}, {}


# -- SendGrid ------------------------------------------------------------------------------------
def _sendgrid(state: ShippingState, method: str, path: str, headers: Any, raw: bytes) -> Answer:
    if not headers.get("Authorization", "").startswith("Bearer SG."):
        return 401, {"errors": [{"field": None, "message": "The provided authorization grant is invalid, expired, or revoked"}]}, {}
    if method != "POST" or path != "/mail/send":
        return 404, {"errors": [{"field": None, "message": "not found"}]}, {}
    body = _json_body(raw)
    problems = []
    to = ((body.get("personalizations") or [{}])[0].get("to") or [{}])[0].get("email")
    if not to:
        problems.append({"field": "personalizations.0.to", "message": "The to array is required for all personalization objects"})
    if not (body.get("from") or {}).get("email"):
        problems.append({"field": "from.email", "message": "The from object must be provided for every email send."})
    if not body.get("subject"):
        problems.append({"field": "subject", "message": "The subject is required."})
    if not body.get("content"):
        problems.append({"field": "content", "message": "Unless a valid template_id is provided, the content parameter is required."})
    if problems:
        return 400, {"errors": problems}, {}
    content = {part["type"]: part["value"] for part in body["content"]}
    with state.lock:
        state.emails.append({"provider": "sendgrid", "to": to, "subject": body["subject"], "text": content.get("text/plain", ""),
                             "html": content.get("text/html", ""), "key": (body.get("custom_args") or {}).get("notification")})
        message_id = f"sg{len(state.emails):06d}"
    return 202, b"", {"X-Message-Id": message_id}


# -- Azure Communication Services Email ----------------------------------------------------------
def _acs(state: ShippingState, method: str, path: str, query: str, headers: Any, raw: bytes, base_url: str) -> Answer:
    problem = verify_acs_signature(method, path + (f"?{query}" if query else ""), headers, raw)
    if problem:
        return 401, {"error": {"code": "Denied", "message": f"Denied by the resource provider: {problem}"}}, {}
    with state.lock:
        if method == "POST" and path == "/acs/emails:send":
            body = _json_body(raw)
            operation_id = headers.get("Operation-Id") or f"op{len(state.acs_operations) + 1}"
            recipients = (body.get("recipients") or {}).get("to") or []
            if not body.get("senderAddress") or not recipients or not (body.get("content") or {}).get("subject"):
                return 400, {"error": {"code": "BadRequest", "message": "senderAddress, recipients.to and content.subject are required"}}, {}
            if operation_id not in state.acs_operations:  # a repeat of an operation sends nothing more
                state.acs_operations[operation_id] = 0
                content = body["content"]
                state.emails.append({"provider": "acs", "to": recipients[0]["address"], "subject": content["subject"],
                                     "text": content.get("plainText", ""), "html": content.get("html", ""), "key": operation_id})
            location = f"{base_url}/acs/emails/operations/{operation_id}?api-version=2023-03-31"
            return 202, {"id": operation_id, "status": "Running"}, {"Operation-Location": location, "Retry-After": "0"}
        if method == "GET" and path.startswith("/acs/emails/operations/"):
            operation_id = path.rsplit("/", 1)[1]
            if operation_id not in state.acs_operations:
                return 404, {"error": {"code": "NotFound", "message": "operation not found"}}, {}
            state.acs_operations[operation_id] += 1
            status = "Running" if state.acs_operations[operation_id] < 2 else "Succeeded"
            return 200, {"id": operation_id, "status": status}, {"Retry-After": "0"} if status == "Running" else {}
    return 404, {"error": {"code": "NotFound", "message": "not found"}}, {}


def verify_acs_signature(method: str, path_and_query: str, headers: Any, raw: bytes) -> str | None:
    """Checks the HMAC-SHA256 signature the way the service does; returns the problem, if any."""
    date, content_hash, host = headers.get("x-ms-date"), headers.get("x-ms-content-sha256"), headers.get("Host")
    authorization = headers.get("Authorization", "")
    if not (date and content_hash and host and authorization.startswith("HMAC-SHA256 ")):
        return "missing x-ms-date, x-ms-content-sha256, Host or HMAC Authorization"
    if base64.b64encode(hashlib.sha256(raw).digest()).decode() != content_hash:
        return "x-ms-content-sha256 does not match the body"
    to_sign = f"{method}\n{path_and_query}\n{date};{host};{content_hash}"
    expected = base64.b64encode(hmac.new(base64.b64decode(SANDBOX_ACS_KEY), to_sign.encode(), hashlib.sha256).digest()).decode()
    given = authorization.rsplit("Signature=", 1)[-1]
    return None if hmac.compare_digest(expected, given) else "signature mismatch"
