"""Logging helpers: customer e-mail addresses and names never reach a log line in clear."""

from __future__ import annotations

import re

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
    """Masks every e-mail address inside free text (error messages, bodies)."""
    return _EMAIL.sub(r"\1***@\2***\3", text)
