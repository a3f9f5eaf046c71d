"""Renders an e-mail from editable template files (subject, plain text, HTML).

The shop overrides any file by putting one of the same name in EMAIL_TEMPLATES_DIR; the rest
come from the templates shipped here. HTML templates autoescape, so a customer named
`<script>` stays text; subjects are folded to one line, so nothing can inject a header.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ..providers.email import Email

BUILT_IN = Path(__file__).parent / "templates"

# Which template tells the customer about which event.
TEMPLATES = {
    "order.paid": "order_paid",
    "order.authorized": "order_authorized",  # pay later: the money is reserved, taken on shipment
    "order.late_payment": "order_paid",
    "payment.failed": "payment_failed",
    "order.cancelled": "order_cancelled",
    "order.shipped": "order_shipped",
    "order.delivered": "order_delivered",
    "order.delivery_problem": "delivery_problem",
    "lead.created": "cart_reminder",  # sent only when the lead's reminder is due (consent given)
}


@lru_cache(maxsize=4)
def _environment(custom_dir: str) -> Environment:
    folders = [FileSystemLoader(custom_dir)] if custom_dir else []
    return Environment(
        loader=ChoiceLoader([*folders, FileSystemLoader(str(BUILT_IN))]),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,  # a typo in a template fails loudly, not as an empty gap
        keep_trailing_newline=True,
    )


def https_only(url: Any) -> str:
    """A link from a carrier or the shop goes into an e-mail only as an https URL with a host
    (`javascript:`, `data:` and plain http are dropped: the template then shows no link)."""
    if not isinstance(url, str) or any(c in url for c in "\x00\r\n\t <>\"'`"):
        return ""
    parts = urlsplit(url)
    return url if parts.scheme.lower() == "https" and parts.hostname else ""


def _safe_links(values: Any) -> Any:
    if isinstance(values, dict):
        return {k: https_only(v) if k.endswith("_url") else _safe_links(v) for k, v in values.items()}
    return values


def render(template: str, context: dict[str, Any], to: str, to_name: str, key: str, custom_dir: str = "") -> Email:
    env = _environment(custom_dir)
    context = {**context, "event": _safe_links(context.get("event"))}
    subject = " ".join(env.get_template(f"{template}.subject.txt").render(context).split())
    return Email(
        to=to,
        to_name=" ".join(to_name.split()),
        subject=subject[:250],
        text=env.get_template(f"{template}.txt").render(context),
        html=env.get_template(f"{template}.html").render(context),
        key=key,
    )
