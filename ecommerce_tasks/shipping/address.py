"""Can a parcel go to this address? Checked before any carrier is asked, so a bad address fails
its label once, with a reason the shop can act on, instead of failing five retries at the carrier."""

from __future__ import annotations

import re
from collections.abc import Mapping

REQUIRED = ("name", "street", "postal_code", "city", "country")
# Postal code shapes of the countries most shops here ship to; others are only checked for presence.
POSTAL_CODES = {
    "NL": re.compile(r"^\d{4} ?[A-Z]{2}$"),
    "BE": re.compile(r"^\d{4}$"),
    "DE": re.compile(r"^\d{5}$"),
    "FR": re.compile(r"^\d{5}$"),
    "AT": re.compile(r"^\d{4}$"),
    "LU": re.compile(r"^(L-)?\d{4}$"),
}
HOUSE_NUMBER_REQUIRED = {"NL", "BE", "DE", "AT"}


def address_problems(address: Mapping[str, str] | None) -> list[str]:
    """Empty when the address looks shippable; otherwise each reason, naming the field."""
    if not address:
        return ["no shipping address"]
    problems = [f"{name} is missing" for name in REQUIRED if not (address.get(name) or "").strip()]
    country = (address.get("country") or "").strip()
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        problems.append(f"country {country!r} is not an ISO 3166 alpha-2 code")
    postal = (address.get("postal_code") or "").strip().upper()
    shape = POSTAL_CODES.get(country)
    if postal and shape and not shape.match(postal):
        problems.append(f"postal code {postal!r} is not a valid {country} postal code")
    if country in HOUSE_NUMBER_REQUIRED and not (address.get("house_number") or "").strip():
        problems.append("house_number is missing")
    return problems
