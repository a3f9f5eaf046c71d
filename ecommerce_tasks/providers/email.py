"""E-mail providers: SendGrid v3, Azure Communication Services Email (HMAC-signed REST), and a
local mailbox that writes each e-mail as an .eml file (the default: needs no account)."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from ..http import PermanentProviderError, TransientProviderError, request, require_origin
from ..settings import Settings
from ..storage import name_segment


@dataclass(frozen=True)
class Email:
    to: str
    to_name: str
    subject: str
    text: str
    html: str
    key: str  # stable per notification: names the file, and is ACS's Operation-Id


class EmailProvider(Protocol):
    name: str
    # True: a repeat with the same key never sends twice (ACS's Operation-Id, the mailbox file).
    deduplicates: bool

    def send(self, message: Email) -> str:
        """Sends (or hands over for sending); returns the provider's id for it."""
        ...


class SendGrid:
    name = "sendgrid"
    deduplicates = False  # no idempotency key: the notifications ledger is the only guard

    def __init__(self, settings: Settings):
        self.url = settings.sendgrid_api_base_url.rstrip("/") + "/mail/send"
        self.headers = {"Authorization": f"Bearer {settings.sendgrid_api_key}"}
        self.sender = {"email": settings.email_from, "name": settings.email_from_name}

    def send(self, message: Email) -> str:
        body = {
            "personalizations": [{"to": [{"email": message.to, "name": message.to_name}]}],
            "from": self.sender,
            "subject": message.subject,
            "content": [{"type": "text/plain", "value": message.text}, {"type": "text/html", "value": message.html}],
            "custom_args": {"notification": message.key},  # lets the shop match SendGrid's event webhook
        }
        response = request(self.name, "POST", self.url, json=body, headers=self.headers)
        return response.headers.get("X-Message-Id", "")


class AcsEmail:
    """Azure Communication Services Email over REST, signed with the resource's access key."""

    name = "acs"
    deduplicates = True
    API_VERSION = "2023-03-31"

    def __init__(self, settings: Settings, poll_interval: float = 1.0, max_polls: int = 30):
        parts = dict(part.split("=", 1) for part in settings.acs_connection_string.split(";") if "=" in part)
        self.endpoint = parts.get("endpoint", "").rstrip("/")
        self.key = parts.get("accesskey", "")
        if not self.endpoint or not self.key:
            raise ValueError("ACS_CONNECTION_STRING must be 'endpoint=https://...;accesskey=...'")
        self.sender = settings.email_from
        self.poll_interval, self.max_polls = poll_interval, max_polls

    def send(self, message: Email) -> str:
        body = {
            "senderAddress": self.sender,
            "content": {"subject": message.subject, "plainText": message.text, "html": message.html},
            "recipients": {"to": [{"address": message.to, "displayName": message.to_name}]},
        }
        operation_id = str(uuid.uuid5(uuid.NAMESPACE_URL, message.key))  # a repeat is the same operation
        url = f"{self.endpoint}/emails:send?api-version={self.API_VERSION}"
        response = self._signed("POST", url, body, {"Operation-Id": operation_id})
        status_url = response.headers.get("Operation-Location") or f"{self.endpoint}/emails/operations/{operation_id}?api-version={self.API_VERSION}"
        status_url = str(require_origin(self.name, status_url, self.endpoint))  # our signature goes only to our resource
        pause = _seconds(response.headers.get("Retry-After"), self.poll_interval)
        for _ in range(self.max_polls):
            time.sleep(pause)
            polled = self._signed("GET", status_url)
            status = polled.json()
            if status.get("status") == "Succeeded":
                return operation_id
            if status.get("status") in {"Failed", "Canceled"}:
                error = (status.get("error") or {}).get("message", "no reason given")
                raise PermanentProviderError(self.name, f"e-mail operation {operation_id} {status['status']}: {error}")
            pause = _seconds(polled.headers.get("Retry-After"), self.poll_interval)
        raise TransientProviderError(self.name, f"e-mail operation {operation_id} still running after {self.max_polls} polls")

    def _signed(self, method: str, url: str, body: dict | None = None, extra: dict[str, str] | None = None):
        content = json.dumps(body).encode() if body is not None else b""
        return request(self.name, method, url, content=content, headers={**sign_acs(self.key, method, url, content), **(extra or {})})


def _seconds(header: str | None, default: float) -> float:
    """The service's Retry-After for polling, within sane bounds."""
    try:
        return min(max(float(header), 0.0), 30.0) if header else default
    except ValueError:
        return default


def sign_acs(access_key: str, method: str, url: str, content: bytes) -> dict[str, str]:
    """The HMAC-SHA256 headers ACS expects (x-ms-date, x-ms-content-sha256, Authorization)."""
    parts = urlsplit(url)
    path_and_query = parts.path + (f"?{parts.query}" if parts.query else "")
    date = email.utils.formatdate(usegmt=True)
    content_hash = base64.b64encode(hashlib.sha256(content).digest()).decode()
    to_sign = f"{method}\n{path_and_query}\n{date};{parts.netloc};{content_hash}"
    signature = base64.b64encode(hmac.new(base64.b64decode(access_key), to_sign.encode(), hashlib.sha256).digest()).decode()
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": content_hash,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
        "Content-Type": "application/json",
    }


class LocalMailbox:
    """Writes each e-mail to EMAIL_OUTBOX_DIR/<key>.eml, to open in any mail program."""

    name = "local"
    deduplicates = True  # the file name is the key: a repeat rewrites the same file

    def __init__(self, settings: Settings):
        self.folder = Path(settings.email_outbox_dir)
        self.sender = email.utils.formataddr((settings.email_from_name, settings.email_from))

    def send(self, message: Email) -> str:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = email.utils.formataddr((message.to_name, message.to))
        mail["Subject"] = message.subject
        mail["Message-ID"] = email.utils.make_msgid(domain="autopilot.local")
        mail.set_content(message.text)
        mail.add_alternative(message.html, subtype="html")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / (name_segment(message.key) + ".eml")  # distinct keys, distinct files
        path.write_bytes(bytes(mail))
        return str(path)


def email_provider(settings: Settings) -> EmailProvider:
    return {"sendgrid": SendGrid, "acs": AcsEmail, "local": LocalMailbox}[settings.email_provider](settings)

