"""Logging helpers: customer e-mail addresses and names never reach a log line in clear."""

from __future__ import annotations

import re

_JSON_NAME = re.compile(r'("(?:name|customer_name|first_name|last_name)"\s*:\s*")([^"\\]*)(")')
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-])[A-Za-z0-9.-]*(\.[A-Za-z]{2,})")


def mask_email(address: str | None) -> str:
    """'jane.doe@example.com' -> 'j***@e***.com'."""
    if not address:
        return ""
    return _EMAIL.sub(r"\1***@\2***\3", address)


def mask_name(name: str | None) -> str:
    """'Jane Doe' -> 'J*** D***'."""
    if not name:
        return ""
    return " ".join(part[:1] + "***" for part in name.split())


def mask_text(text: str) -> str:
    """Masks e-mail addresses and JSON name fields inside free text (errors, message bodies)."""
    text = _JSON_NAME.sub(lambda m: m.group(1) + mask_name(m.group(2)) + m.group(3), text)
    return _EMAIL.sub(r"\1***@\2***\3", text)
