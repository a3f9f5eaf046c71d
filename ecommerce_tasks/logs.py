"""Logging helpers: customer data never reaches a log line, a failure record or operator output
in clear. Masked by field where the text is JSON (every field that names or locates a person),
and by pattern where it is not (e-mail addresses, and JSON-looking fragments of free text)."""

from __future__ import annotations

import json
import re
from typing import Any

# Fields of the data contract (and of the carriers' and e-mail providers' bodies) that hold
# personal data: names, contact details and every part of an address.
PERSONAL_FIELDS = frozenset({
    "name", "customer_name", "first_name", "last_name", "to_name", "displayName", "company", "company_name",
    "email", "address", "street", "house_number", "postal_code", "city", "phone", "telephone",
    "consumerName", "consumerAccount", "bankAccount", "iban",
})
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_JSON_FIELD = re.compile(r'("(' + "|".join(sorted(PERSONAL_FIELDS)) + r')"\s*:\s*)(' + _JSON_STRING + r"|-?\d+)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-])[A-Za-z0-9.-]*(\.[A-Za-z]{2,})")
_ANY_EMAIL = re.compile(r"[^\s@\"'<>,;:*]+@[^\s@\"'<>,;:*]+")  # what _EMAIL leaves: non-ASCII ones
MAX_PARSED = 200_000  # longer texts are masked by pattern only


def mask_email(address: str | None) -> str:
    """'jane.doe@example.com' -> 'j***@e***.com'."""
    if not address:
        return ""
    masked = _EMAIL.sub(r"\1***@\2***\3", address)
    return _ANY_EMAIL.sub(lambda m: m.group(0)[:1] + "***@***", masked)


def mask_name(name: str | None) -> str:
    """'Jane Doe' -> 'J*** D***'."""
    if not name:
        return ""
    return " ".join(part[:1] + "***" for part in name.split())


def mask_value(field: str, value: Any) -> Any:
    if value in (None, "", [], {}):
        return value
    if isinstance(value, (dict, list)):
        return mask_json(value)
    if field == "email":
        return mask_email(str(value))
    if field in {"name", "customer_name", "first_name", "last_name", "to_name", "displayName", "consumerName"}:
        return mask_name(str(value))
    return "***"


def mask_json(data: Any) -> Any:
    """Every personal field of a parsed JSON value masked, at any depth; e-mails anywhere too."""
    if isinstance(data, dict):
        return {k: mask_value(k, v) if k in PERSONAL_FIELDS else mask_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_json(v) for v in data]
    if isinstance(data, str):
        return mask_email(data)
    return data


def _mask_fragment(match: re.Match) -> str:
    raw = match.group(3)
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return match.group(1) + json.dumps(mask_value(match.group(2), value))


def mask_text(text: str) -> str:
    """Masks a message body or free text (errors that quote a body) for logs and records."""
    if len(text) <= MAX_PARSED and text[:1] in "{[":
        try:
            return json.dumps(mask_json(json.loads(text)), ensure_ascii=False, separators=(",", ":"))
        except (ValueError, RecursionError):
            pass
    return mask_email(_JSON_FIELD.sub(_mask_fragment, text))
