"""Identity-based storage, end to end: no connection string, no account key.

Azurite runs with HTTPS and OAuth (it checks each bearer token's lifetime, issuer and audience);
a local endpoint speaks the App Service managed-identity protocol (IDENTITY_ENDPOINT and
IDENTITY_HEADER, as on a Function App), so the app's real credential code fetches the tokens.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from autopilot_local.devtools import Azurite
from ecommerce_tasks.settings import StorageAccess, reload_settings
from tests.conftest import order_event, payment_ref

ROOT = Path(__file__).parent.parent
PORTS = (21000, 21001, 21002)
IDENTITY_HEADER = "local-identity-header"


def _self_signed(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    return cert_path, key_path


def _jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{base64.urlsafe_b64encode(b'sig').rstrip(b'=').decode()}"


class IdentityEndpoint:
    """The App Service managed-identity endpoint: GET ?resource=...&api-version=2019-08-01."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                outer.requests.append({**query, "header": self.headers.get("X-IDENTITY-HEADER")})
                if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
                    self.send_response(401)
                    self.end_headers()
                    return
                now = int(time.time())
                resource = query["resource"]
                token = _jwt({"aud": resource, "iss": "https://sts.windows.net/ab1f708d-50f6-404c-a006-d71b2ac7a606/",
                              "nbf": now - 60, "iat": now - 60, "exp": now + 3600, "oid": "00000000-0000-0000-0000-000000000001"})
                body = json.dumps({"access_token": token, "expires_on": str(now + 3600), "resource": resource, "token_type": "Bearer",
                                   "client_id": query.get("client_id", "")}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/msi/token"


@pytest.fixture
def oauth_azurite(tmp_path):
    cert, key = _self_signed(tmp_path)
    azurite = Azurite(ports=PORTS, extra_args=("--oauth", "basic", "--cert", str(cert), "--key", str(key))).start()
    yield cert
    azurite.close()


def test_settings_read_the_hosts_identity_based_connection(monkeypatch):
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.setenv("AzureWebJobsStorage__accountName", "shopstore")
    monkeypatch.setenv("AzureWebJobsStorage__credential", "managedidentity")
    monkeypatch.setenv("AzureWebJobsStorage__clientId", "1111-2222")
    access = StorageAccess.from_env()
    assert not access.connection_string and access.managed_identity and access.client_id == "1111-2222"
    assert access.endpoint("queue") == "https://shopstore.queue.core.windows.net"
    assert access.endpoint("table") == "https://shopstore.table.core.windows.net"


def test_the_whole_path_runs_on_a_managed_identity_without_any_key(env, sandbox, monkeypatch, oauth_azurite):
    identity = IdentityEndpoint()
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    for service, port in zip(("blob", "queue", "table"), PORTS, strict=True):
        monkeypatch.setenv(f"AzureWebJobsStorage__{service}ServiceUri", f"https://127.0.0.1:{port}/devstoreaccount1")
    monkeypatch.setenv("AzureWebJobsStorage__credential", "managedidentity")
    monkeypatch.setenv("AzureWebJobsStorage__clientId", "00000000-0000-0000-0000-0000000000aa")
    monkeypatch.setenv("IDENTITY_ENDPOINT", identity.url)
    monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(oauth_azurite))  # the sync transport (requests)
    monkeypatch.setenv("SSL_CERT_FILE", str(oauth_azurite))  # the async fan-out (aiohttp reads it when it starts)
    settings = reload_settings()
    assert settings.storage_connection == ""

    from ecommerce_tasks.intake import ShopIntake
    from ecommerce_tasks.orders import load_order
    from ecommerce_tasks.storage import read_blob

    sandbox.payment("mollie", "tr_identity1", ["paid"])
    ShopIntake().apply(order_event("o-identity", payments=[payment_ref("mollie", "tr_identity1")],
                                   shipping_address={"name": "I D", "street": "Damrak", "house_number": "1",
                                                     "postal_code": "1012 LG", "city": "Amsterdam", "country": "NL"}))
    # A process of its own, started with this environment, as a Function App's worker would be:
    # timers fan out with the async client, workers use the sync ones, the label goes to a blob.
    subprocess.run([sys.executable, "-m", "autopilot_local", "run", "--once"], check=True, timeout=300, cwd=ROOT)

    record = load_order("o-identity")
    assert record.order.status == "paid" and record.shipment["state"] == "created"
    assert read_blob(settings.labels_container, record.shipment["label_blob"]).startswith(b"%PDF")
    assert identity.requests and all(r["resource"] == "https://storage.azure.com" for r in identity.requests)
    assert all(r["header"] == IDENTITY_HEADER for r in identity.requests)
    assert all(r["client_id"] == "00000000-0000-0000-0000-0000000000aa" for r in identity.requests)
