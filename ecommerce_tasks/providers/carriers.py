"""Carrier adapters: Sendcloud (API v2), PostNL, and a local carrier that needs no account.

Each turns a label request into a created parcel with its label PDF, and a parcel into its current
status, mapped to a small normalized set. Creating is the dangerous part: Sendcloud has no
idempotency key and a retried create can buy a second label, so its create is "look up by order
number, then create" inside one retried unit. PostNL labels are made for a barcode reserved (and
persisted by the caller) beforehand, so a repeated label call describes the same parcel.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Protocol

from ..http import PermanentProviderError, download, request_json, send_once, with_retries
from ..settings import Settings


class ShipmentStatus(str, Enum):
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    DELIVERY_PROBLEM = "delivery_problem"
    RETURNED = "returned"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in {ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED, ShipmentStatus.CANCELLED}


@dataclass(frozen=True)
class CarrierStatus:
    status: ShipmentStatus | None  # None: a carrier status we do not map (kept, not acted on)
    code: str
    message: str = ""


@dataclass(frozen=True)
class LabelRequest:
    order_id: str
    recipient: Mapping[str, str]
    sender: Mapping[str, str]
    email: str
    weight_grams: int


@dataclass
class CreatedLabel:
    parcel_id: str
    tracking_number: str
    tracking_url: str
    pdf: bytes
    status: CarrierStatus
    extra: dict[str, Any] = field(default_factory=dict)


# A label is a few hundred KB; anything much larger is not a label.
MAX_LABEL_BYTES = 2 * 1024 * 1024
PDF_MAGIC = b"%PDF-"


class LabelNotFetched(PermanentProviderError):
    """The parcel was bought but its label cannot be had (a URL off the API host, too large, not a
    PDF): the parcel is kept on the shipment, so nobody buys a second one."""

    def __init__(self, provider: str, message: str, parcel: "CreatedLabel"):
        super().__init__(provider, message)
        self.parcel = parcel


def checked_pdf(provider: str, pdf: bytes, parcel: "CreatedLabel") -> bytes:
    if len(pdf) > MAX_LABEL_BYTES or not pdf.startswith(PDF_MAGIC):
        raise LabelNotFetched(provider, f"label of parcel {parcel.parcel_id} is not a PDF of at most {MAX_LABEL_BYTES} bytes", parcel)
    return pdf


class Carrier(Protocol):
    name: str
    tracks: bool  # False: the carrier cannot be asked for a status (the local carrier)

    def reserve(self, label: LabelRequest) -> dict[str, str]:
        """Values to persist before creating (PostNL's barcode); {} when there are none."""
        ...

    def create_label(self, label: LabelRequest, reserved: Mapping[str, str]) -> CreatedLabel: ...

    def track(self, parcel_id: str, tracking_number: str) -> CarrierStatus: ...


# Sendcloud parcel status ids (documented): 1000 ready to send; 3, 5, 7, 22, 91, 92 on the way;
# 11 delivered; 8 and 80 delivery problems; 2000 cancelled.
SENDCLOUD_STATUS = {
    1000: ShipmentStatus.LABEL_CREATED,
    **{code: ShipmentStatus.IN_TRANSIT for code in (3, 5, 7, 22, 91, 92)},
    11: ShipmentStatus.DELIVERED,
    8: ShipmentStatus.DELIVERY_PROBLEM,
    80: ShipmentStatus.DELIVERY_PROBLEM,
    2000: ShipmentStatus.CANCELLED,
}


class Sendcloud:
    name = "sendcloud"
    tracks = True

    def __init__(self, settings: Settings):
        self.base = settings.sendcloud_api_base_url.rstrip("/")
        self.auth = (settings.sendcloud_public_key, settings.sendcloud_secret_key)
        self.shipping_method_id = settings.sendcloud_shipping_method_id

    def reserve(self, label: LabelRequest) -> dict[str, str]:
        return {}

    def create_label(self, label: LabelRequest, reserved: Mapping[str, str]) -> CreatedLabel:
        # One retried unit: after a timeout the parcel may exist, so every try looks first.
        parcel = with_retries(self.name, lambda: self.find(label.order_id) or self._create(label))
        created = CreatedLabel(
            parcel_id=str(parcel["id"]),
            tracking_number=str(parcel.get("tracking_number") or ""),
            tracking_url=str(parcel.get("tracking_url") or ""),
            pdf=b"",
            status=self._status(parcel),
        )
        links = parcel.get("label") or {}
        label_url = links.get("label_printer") or (links.get("normal_printer") or [None])[0]
        if not label_url or not isinstance(label_url, str):
            raise LabelNotFetched(self.name, f"parcel {created.parcel_id} has no label (request_label failed)", created)
        try:
            # Our credentials go only to the configured API host: a label elsewhere is refused.
            created.pdf = download(self.name, label_url, self.base, max_bytes=MAX_LABEL_BYTES, magic=PDF_MAGIC, auth=self.auth)
        except LabelNotFetched:
            raise
        except PermanentProviderError as exc:
            raise LabelNotFetched(self.name, f"parcel {created.parcel_id} bought, label not fetched: {exc}", created) from exc
        return created

    def find(self, order_number: str) -> dict[str, Any] | None:
        """The live (not cancelled) parcel made for this order number, if any."""
        answer = send_once(self.name, "GET", f"{self.base}/parcels", params={"order_number": order_number}, auth=self.auth).json()
        live = [p for p in answer.get("parcels", []) if (p.get("status") or {}).get("id") != 2000]
        return live[0] if live else None

    def _create(self, label: LabelRequest) -> dict[str, Any]:
        to = label.recipient
        body = {
            "parcel": {
                "name": to.get("name", ""),
                "company_name": to.get("company", ""),
                "address": to.get("street", ""),
                "house_number": to.get("house_number", ""),
                "city": to.get("city", ""),
                "postal_code": to.get("postal_code", ""),
                "country": to.get("country", ""),
                "telephone": to.get("phone", ""),
                "email": label.email,
                "order_number": label.order_id,
                "weight": f"{label.weight_grams / 1000:.3f}",
                "request_label": True,
                "shipment": {"id": self.shipping_method_id},
            }
        }
        return send_once(self.name, "POST", f"{self.base}/parcels", json=body, auth=self.auth).json()["parcel"]

    def track(self, parcel_id: str, tracking_number: str) -> CarrierStatus:
        parcel = request_json(self.name, "GET", f"{self.base}/parcels/{parcel_id}", auth=self.auth)["parcel"]
        return self._status(parcel)

    @staticmethod
    def _status(parcel: Mapping[str, Any]) -> CarrierStatus:
        status = parcel.get("status") or {}
        code = int(status.get("id", -1))
        return CarrierStatus(SENDCLOUD_STATUS.get(code), str(code), status.get("message", ""))


class PostNL:
    name = "postnl"
    tracks = True

    def __init__(self, settings: Settings):
        self.base = settings.postnl_api_base_url.rstrip("/")
        self.headers = {"apikey": settings.postnl_api_key}
        self.customer_code = settings.postnl_customer_code
        self.customer_number = settings.postnl_customer_number
        self.product_code = settings.postnl_product_code

    def reserve(self, label: LabelRequest) -> dict[str, str]:
        params = {"CustomerCode": self.customer_code, "CustomerNumber": self.customer_number, "Type": "3S", "Serie": "000000000-999999999"}
        answer = request_json(self.name, "GET", f"{self.base}/shipment/v1_1/barcode", params=params, headers=self.headers)
        return {"barcode": answer["Barcode"]}

    def create_label(self, label: LabelRequest, reserved: Mapping[str, str]) -> CreatedLabel:
        barcode = reserved["barcode"]
        to, sender = label.recipient, label.sender
        body = {
            "Customer": {
                "CustomerCode": self.customer_code,
                "CustomerNumber": self.customer_number,
                "Address": _postnl_address("02", sender),
            },
            "Message": {
                "MessageID": hashlib.sha1(barcode.encode(), usedforsecurity=False).hexdigest()[:12],  # an id, not security
                "MessageTimeStamp": datetime.now(timezone.utc).strftime("%d-%m-%Y %H:%M:%S"),
                "Printertype": "GraphicFile|PDF",
            },
            "Shipments": [
                {
                    "Addresses": [_postnl_address("01", to)],
                    "Barcode": barcode,
                    "Contacts": [{"ContactType": "01", "Email": label.email, "TelNr": to.get("phone", "")}],
                    "Dimension": {"Weight": str(label.weight_grams)},
                    "ProductCodeDelivery": self.product_code,
                    "Reference": label.order_id,
                }
            ],
        }
        answer = request_json(self.name, "POST", f"{self.base}/shipment/v2_2/label", params={"confirm": "true"}, json=body, headers=self.headers)
        content = answer["ResponseShipments"][0]["Labels"][0]["Content"]
        tracking_url = f"https://jouw.postnl.nl/track-and-trace/{barcode}-{to.get('country', '')}-{to.get('postal_code', '').replace(' ', '')}"
        created = CreatedLabel(barcode, barcode, tracking_url, b"", CarrierStatus(ShipmentStatus.LABEL_CREATED, "1"))
        if not isinstance(content, str) or len(content) > MAX_LABEL_BYTES * 4 // 3 + 4:
            raise LabelNotFetched(self.name, f"label of {barcode} is missing or too large", created)
        created.pdf = checked_pdf(self.name, base64.b64decode(content, validate=False), created)
        return created

    def track(self, parcel_id: str, tracking_number: str) -> CarrierStatus:
        answer = request_json(self.name, "GET", f"{self.base}/shipment/v2/status/barcode/{tracking_number}", headers=self.headers)
        status = answer["CurrentStatus"]["Shipment"]["Status"]
        code, phase = str(status.get("StatusCode", "")), str(status.get("PhaseCode", ""))
        if code == "1":
            normalized: ShipmentStatus | None = ShipmentStatus.LABEL_CREATED  # pre-announced, not handed in yet
        elif phase == "4":
            normalized = ShipmentStatus.DELIVERED
        elif phase in {"1", "2", "3"}:
            normalized = ShipmentStatus.IN_TRANSIT
        else:
            normalized = None
        return CarrierStatus(normalized, code, status.get("StatusDescription", ""))


def _postnl_address(kind: str, address: Mapping[str, str]) -> dict[str, str]:
    return {
        "AddressType": kind,
        "Name": address.get("name", ""),
        "CompanyName": address.get("company", ""),
        "Street": address.get("street", ""),
        "HouseNr": address.get("house_number", ""),
        "Zipcode": address.get("postal_code", "").replace(" ", ""),
        "City": address.get("city", ""),
        "Countrycode": address.get("country", ""),
    }


class LocalCarrier:
    """Prints its own label; there is nobody to ask for tracking, so shipments are not tracked."""

    name = "local"
    tracks = False

    def __init__(self, settings: Settings):
        self.tracking_url = settings.local_tracking_url

    def reserve(self, label: LabelRequest) -> dict[str, str]:
        return {}

    def create_label(self, label: LabelRequest, reserved: Mapping[str, str]) -> CreatedLabel:
        from .label_pdf import render_label

        # Derived from the order id: creating twice gives the same shipment number and document.
        number = "LOC" + hashlib.sha256(label.order_id.encode()).hexdigest()[:12].upper()
        url = self.tracking_url.format(tracking_number=number)
        pdf = render_label(number, url, label.sender, label.recipient, label.order_id)
        return CreatedLabel(number, number, url, pdf, CarrierStatus(ShipmentStatus.LABEL_CREATED, "created"))

    def track(self, parcel_id: str, tracking_number: str) -> CarrierStatus:
        raise NotImplementedError("the local carrier has no tracking")


CARRIERS: dict[str, Callable[[Settings], Carrier]] = {"sendcloud": Sendcloud, "postnl": PostNL, "local": LocalCarrier}


def carrier_for(settings: Settings, name: str | None = None) -> Carrier:
    return CARRIERS[name or settings.carrier](settings)
