"""Typed settings, read from app settings (environment variables on the Functions host) by
pydantic-settings: one model per family plus the shared ones, so each setting is declared once,
with its type, bounds, default and meaning. An invalid value fails with the setting's name and
what is allowed; `docs/settings.md` is generated from these models (`autopilot settings-doc`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

AZURITE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    # Azurite's well-known development key, published in its documentation: not a secret.
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)

# Every table the app uses (each name gets TABLE_PREFIX in front).
TABLES = ("orders", "paymentlookup", "duework", "failures", "runs", "stock", "checkouts", "customers", "leads", "notifications",
          "webhookdeliveries")


class SettingsError(ValueError):
    """An app setting has a value the app cannot use: names the setting and what is allowed."""


@dataclass(frozen=True)
class StorageAccess:
    """How the app reaches its storage account: a connection string (Azurite, or keys), or an
    identity (no key at all) with the service endpoints, as the Functions host reads
    `AzureWebJobsStorage__accountName` / `__<service>ServiceUri` / `__credential` / `__clientId`."""

    connection_string: str = ""
    endpoints: tuple[tuple[str, str], ...] = ()  # (service, URL) for blob, queue, table
    managed_identity: bool = False
    client_id: str = ""

    def endpoint(self, service: str) -> str:
        return dict(self.endpoints)[service]

    @classmethod
    def from_env(cls) -> "StorageAccess":
        connection = os.environ.get("AzureWebJobsStorage", "").strip()
        if connection == "UseDevelopmentStorage=true":
            connection = AZURITE_CONNECTION_STRING
        if connection:
            return cls(connection_string=connection)
        prefix = "AzureWebJobsStorage__"
        account = os.environ.get(prefix + "accountName", "").strip()
        endpoints = {}
        for service in ("blob", "queue", "table"):
            uri = os.environ.get(f"{prefix}{service}ServiceUri", "").strip()
            endpoints[service] = uri or (f"https://{account}.{service}.core.windows.net" if account else "")
        if not any(endpoints.values()):
            return cls(connection_string=AZURITE_CONNECTION_STRING)  # nothing configured: local Azurite
        missing = [service for service, uri in endpoints.items() if not uri]
        if missing:
            raise SettingsError(f"identity-based storage needs {prefix}accountName or {prefix}<service>ServiceUri for {missing}")
        return cls(
            endpoints=tuple(endpoints.items()),
            managed_identity=os.environ.get(prefix + "credential", "").strip().lower() == "managedidentity",
            client_id=os.environ.get(prefix + "clientId", "").strip() or os.environ.get("AZURE_CLIENT_ID", "").strip(),
        )


Minutes = Annotated[float, Field(ge=0, le=525_600)]  # fractions allowed: 0.5 is half a minute; 0 is "at once"
Hours = Annotated[float, Field(gt=0, le=87_600)]
Days = Annotated[float, Field(gt=0, le=3_650)]
Seconds = Annotated[float, Field(gt=0, le=86_400)]
QueueName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
Url = Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=2000)]
def _resolved(value: str) -> str:
    """A Key Vault reference the platform could not resolve (the secret is not set yet) reaches the
    app as its own text: that is no key, so it counts as unset rather than being sent to a provider."""
    return "" if value.startswith("@Microsoft.KeyVault(") else value


# A key or connection string: never echoed in a settings error.
Secret = Annotated[str, Field(max_length=4000), AfterValidator(_resolved)]


class Section(BaseSettings):
    """Each field is the app setting of its name in capitals; a blank value means the default."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_ignore_empty=True, str_strip_whitespace=True)


class SharedSettings(Section):
    """Storage names and the mechanisms every family shares."""

    table_prefix: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,30}$")] = Field(
        "shop", description="prefix of every table name (letters and digits)")
    shop_events_queue: QueueName = Field("shop-events", description="inbound shop events (**required** by the host)")
    shop_outcomes_queue: QueueName = Field("shop-outcomes", description="outbound outcome events")
    http_timeout_seconds: Seconds = Field(10.0, description="timeout of one provider call")
    http_max_attempts: Annotated[int, Field(ge=1, le=20)] = Field(4, description="tries of one provider call before the message is retried")
    http_backoff_base_seconds: Seconds = Field(0.5, description="first backoff between provider tries (exponential, with jitter)")
    http_backoff_max_seconds: Seconds = Field(20.0, description="longest backoff, also the cap on a provider's Retry-After")
    telemetry_sampling_percentage: Annotated[float, Field(gt=0, le=100)] = Field(100.0, description=(
        "share of traces (whole journeys: spans and their dependencies) sent to Application Insights; every row kept "
        "carries itemCount = 100 / this, so queries count with sum(itemCount). Logs and metrics are never sampled"))
    fanout_concurrency: Annotated[int, Field(ge=1, le=1000)] = Field(64, description="concurrent queue sends of a timer's fan-out")
    unknown_entity_tries: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="deliveries an event naming a not-yet-known product may wait before it is rejected")
    event_max_future_hours: Hours = Field(
        24, description="how far in the future a shop event's time may lie (clock skew); later ones, and times before 2000, are rejected")
    lease_minutes: Annotated[float, Field(gt=0, le=525_600)] = Field(
        10.0, description="how long a scanned work item and a pending outbox are leased before they are due again (formerly `PAYMENT_LEASE_MINUTES`)")
    side_effect_lease_seconds: Seconds = Field(120.0, description="lease of a claimed label or e-mail, after which a crashed sender's claim is taken over")


class PaymentsSettings(Section):
    payment_checks_queue: QueueName = Field("payment-checks", description="payment work items, from the scan and the webhooks (**required**)")
    mollie_api_base_url: Url = Field("https://api.mollie.com/v2", description="Mollie API (the sandbox locally)")
    mollie_api_key: Secret = Field("", description="`test_…` or `live_…` API key")
    stripe_api_base_url: Url = Field("https://api.stripe.com/v1", description="Stripe API (the sandbox locally)")
    stripe_api_key: Secret = Field("", description="`sk_test_…` or `sk_live_…` secret key")
    stripe_webhook_secret: Secret = Field("", description=(
        "the endpoint's signing secret (`whsec_…`): when set, every Stripe webhook call must carry a valid `Stripe-Signature`"
        " no older than 5 minutes, else 400 before any provider call"))
    payment_first_check_minutes: Minutes = Field(2.0, description="first check after a payment started")
    payment_backoff_base_minutes: Minutes = Field(5.0, description="per-order backoff of later checks (5, 10, 20, … minutes)")
    payment_backoff_max_minutes: Minutes = Field(360.0, description="the backoff's cap")
    payment_window_hours: Hours = Field(72.0, description="after this, an order with no money in flight is cancelled (confirmed with the provider first)")
    late_payment_watch_days: Days = Field(30.0, description="how long open attempts of a cancelled order are still watched for a late payment")
    capture_on: Literal["label", "in_transit", "manual"] = Field("label", description=(
        "when an authorized payment (pay later, manual capture) is captured: `label` (its label is made), `in_transit`"
        " (the carrier's first scan) or `manual` (the shop captures; the app only watches)"))
    authorization_alert_hours: Hours = Field(24.0, description=(
        "an authorized order not shipped this long before its authorization ends sends `order.authorization_expiring`, once"))


class InventorySettings(Section):
    stock_updates_queue: QueueName = Field("stock-updates", description="inventory work items, one per product with unapplied events (**required**)")


class CleanupSettings(Section):
    cleanup_queue: QueueName = Field("cleanup-work", description="clean-up work items, chunks of checkouts or leads (**required**)")
    cleanup_mode: Literal["archive", "delete"] = Field(
        "archive", description="`archive` (abandoned checkouts with contact details become leads) or `delete`")
    abandoned_after_hours: Hours = Field(24.0, description="idle time after which a checkout is abandoned")
    empty_cart_after_hours: Hours = Field(2.0, description="idle time after which an empty cart is deleted")
    lead_retention_days: Days = Field(90.0, description="leads older than this are purged")
    cleanup_chunk: Annotated[int, Field(ge=1, le=100)] = Field(50, description="checkouts per work item (one transaction each)")
    cleanup_max_per_run: Annotated[int, Field(ge=1, le=10_000_000)] = Field(20_000, description="checkouts per run (the next run continues)")


class ShippingSettings(Section):
    label_requests_queue: QueueName = Field("label-requests", description="label work items (**required**)")
    tracking_queue: QueueName = Field("tracking-checks", description="tracking work items (**required**)")
    carrier: Literal["local", "sendcloud", "postnl"] = Field("local", description="`local` (a PDF label, no account), `sendcloud` or `postnl`")
    sendcloud_api_base_url: Url = Field("https://panel.sendcloud.sc/api/v2", description="Sendcloud API v2")
    sendcloud_public_key: Secret = Field("", description="Sendcloud public key (HTTP Basic user)")
    sendcloud_secret_key: Secret = Field("", description="Sendcloud secret key")
    sendcloud_shipping_method_id: Annotated[int, Field(ge=1)] = Field(8, description="the Sendcloud shipping method of new parcels")
    postnl_api_base_url: Url = Field("https://api.postnl.nl", description="PostNL API")
    postnl_api_key: Secret = Field("", description="PostNL API key")
    postnl_customer_code: str = Field("DEVC", description="PostNL customer code")
    postnl_customer_number: str = Field("11223344", description="PostNL customer number")
    postnl_product_code: str = Field("3085", description="PostNL product code of new shipments")
    local_tracking_url: str = Field("https://track.example.com/{tracking_number}", description="tracking URL of the local carrier")
    labels_container: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")] = Field(
        "labels", description="blob container of label PDFs")
    ship_from_name: str = Field("Example Shop", description="sender on labels")
    ship_from_street: str = Field("Stationsplein", description="sender street")
    ship_from_house_number: str = Field("1", description="sender house number")
    ship_from_postal_code: str = Field("1012AB", description="sender postal code")
    ship_from_city: str = Field("Amsterdam", description="sender city")
    ship_from_country: str = Field("NL", description="sender country (ISO 3166 alpha-2)")
    default_parcel_weight_grams: Annotated[int, Field(ge=1, le=100_000)] = Field(1000, description="weight of an order that names none")
    tracking_interval_minutes: Minutes = Field(240.0, description="how often a shipment is asked for its status")
    tracking_silent_days: Days = Field(5.0, description="a shipment without news this long is flagged")

    @property
    def ship_from(self) -> dict[str, str]:
        return {"name": self.ship_from_name, "street": self.ship_from_street, "house_number": self.ship_from_house_number,
                "postal_code": self.ship_from_postal_code, "city": self.ship_from_city, "country": self.ship_from_country}


class NotificationsSettings(Section):
    notifications_queue: QueueName = Field("notifications", description="e-mail work items (**required**)")
    email_provider: Literal["local", "sendgrid", "acs"] = Field(
        "local", description="`local` (a folder of .eml files; refused on Azure), `sendgrid` or `acs`")
    email_from: str = Field("shop@example.com", description="sender address")
    email_from_name: str = Field("Example Shop", description="sender name")
    sendgrid_api_base_url: Url = Field("https://api.sendgrid.com/v3", description="SendGrid v3 API")
    sendgrid_api_key: Secret = Field("", description="SendGrid API key")
    acs_connection_string: Secret = Field("", description="`endpoint=https://…;accesskey=…` of the Communication Services resource")
    email_outbox_dir: str = Field(".local/emails", description="folder of the local mailbox")
    email_templates_dir: str = Field("", description="folder whose files override the built-in templates one by one")
    shop_name: str = Field("Example Shop", description="the shop's name in e-mails")
    shop_url: Url = Field("https://shop.example.com", description="the shop's address in e-mails")


def _webhook_url(url: str) -> str:
    """Events carry customer data: https, except a receiver on this machine (local runs, the sandbox)."""
    if url and not (url.startswith("https://") or url.startswith(("http://127.0.0.1", "http://localhost"))):
        raise ValueError("must be https (http only to 127.0.0.1 or localhost)")
    return url


def _schedule(text: str) -> str:
    steps = [part.strip() for part in text.split(",") if part.strip()]
    if not steps or not all(step.isdigit() and int(step) <= 7 * 86400 for step in steps):
        raise ValueError("a comma-separated list of whole seconds, each at most 7 days")
    return ",".join(steps)


class WebhooksSettings(Section):
    """Events out to the shop as signed HTTP calls (Standard Webhooks), beside the outcomes queue."""

    webhook_queue: QueueName = Field("webhook-deliveries", description="webhook delivery work items (**required**)")
    shop_webhook_url: Annotated[str, Field(max_length=2000), AfterValidator(_webhook_url)] = Field(
        "", description="where every outbound event is also POSTed, signed (unset: no webhooks)")
    shop_webhook_secret: Secret = Field("", description=(
        "the signing secret (`whsec_<base64>`); during a rotation two, separated by a space: both signatures are sent"))
    webhook_timeout_seconds: Seconds = Field(10.0, description="timeout of one delivery")
    webhook_retry_seconds: Annotated[str, AfterValidator(_schedule)] = Field(
        "5,300,1800,7200,18000,36000,36000", description=(
            "waits before each new try after a timeout, 429 or 5xx (comma-separated seconds): about a day in all;"
            " then the delivery is recorded as failed"))

    @property
    def webhook_secrets(self) -> list[str]:
        return self.shop_webhook_secret.split()

    @property
    def webhook_retry_schedule(self) -> list[int]:
        return [int(step) for step in self.webhook_retry_seconds.split(",")]


FAMILIES: tuple[type[Section], ...] = (SharedSettings, PaymentsSettings, InventorySettings, CleanupSettings, ShippingSettings,
                                       NotificationsSettings, WebhooksSettings)


class Settings(SharedSettings, PaymentsSettings, InventorySettings, CleanupSettings, ShippingSettings, NotificationsSettings,
               WebhooksSettings):
    """Every section in one object: `get_settings().payment_window_hours`."""

    @cached_property
    def storage(self) -> StorageAccess:
        return StorageAccess.from_env()

    @property
    def storage_connection(self) -> str:
        return self.storage.connection_string  # "" when storage is reached with an identity

    def queues(self) -> list[str]:
        """Every queue the app reads or writes (the host adds `<queue>-poison` itself)."""
        return [self.shop_events_queue, self.shop_outcomes_queue, self.payment_checks_queue, self.stock_updates_queue,
                self.cleanup_queue, self.label_requests_queue, self.tracking_queue, self.notifications_queue, self.webhook_queue]

    def table(self, name: str) -> str:
        """Table names are alphanumeric; the prefix lets several shops or test runs share an account."""
        return f"{self.table_prefix}{name}"

    @classmethod
    def from_env(cls) -> "Settings":
        try:
            return cls()
        except ValidationError as exc:
            raise SettingsError("; ".join(_describe(error) for error in exc.errors())) from None


def _describe(error: Any) -> str:
    name = str(error["loc"][0]).upper() if error["loc"] else "(settings)"
    given = error.get("input")
    shown = "" if name.endswith(("_KEY", "_SECRET", "_STRING")) else f" (got {given!r})"
    return f"{name}: {error['msg']}{shown}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def reload_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


# Settings only the Functions host, the worker or the local tooling read, documented beside ours.
PLATFORM_SETTINGS = (
    ("AzureWebJobsStorage", "`UseDevelopmentStorage=true`", "storage account connection string (Azurite locally); leave it out to use an identity"),
    ("AzureWebJobsStorage__accountName`, `__credential`, `__clientId", "–", "identity-based storage, as the host reads it"),
    ("AZURE_CLIENT_ID", "–", "the user-assigned managed identity (storage and Application Insights)"),
    ("APPLICATIONINSIGHTS_CONNECTION_STRING", "–", "turns on telemetry to Application Insights"),
    ("PYTHON_THREADPOOL_THREAD_COUNT", "sample and Bicep `16` (worker default: min(32, cores + 4))",
     "the Python worker's one thread pool, shared by every sync function; the local runner uses the same setting and default"),
    ("PAYMENTS_SCAN_SCHEDULE", "**required** (sample `0 */2 * * * *`)", "NCRONTAB schedule of the payment due scan"),
    ("SHIPPING_LABELS_SCHEDULE", "**required** (sample `0 */5 * * * *`)", "NCRONTAB schedule of the label scan"),
    ("TRACKING_SCAN_SCHEDULE", "**required** (sample `0 */15 * * * *`)", "NCRONTAB schedule of the tracking scan"),
    ("INVENTORY_SCAN_SCHEDULE", "**required** (sample `0 * * * * *`)", "NCRONTAB schedule of the inventory scan"),
    ("CLEANUP_SCAN_SCHEDULE", "**required** (sample `0 0 * * * *`)", "NCRONTAB schedule of the clean-up scan (hourly)"),
    ("LOCAL_FUNCTION_KEY", "random", "the function key of the local runner's HTTP routes (8 characters or more)"),
)


def settings_reference() -> str:
    """docs/settings.md, generated from the models (a test keeps the committed page in step)."""
    lines = ["# Settings", "",
             "Generated from `ecommerce_tasks/settings.py` by `autopilot settings-doc > docs/settings.md`: edit the models, not this page.",
             "", "Every setting is an app setting (an environment variable). `local.settings.sample.json` lists them all with safe",
             "local defaults; copy it to `local.settings.json` (git-ignored) for `func start`. A blank value means the default.",
             "Minutes, hours and days take fractions (`0.5`). An invalid value stops the app with the setting's name and what is",
             "allowed. The queue names and schedules marked **required** are binding expressions (`%NAME%`): the host has no",
             "default for them, so the app (under the host, and `autopilot serve`) refuses to start, naming each one missing.", ""]
    lines += ["## Host and platform", "", "| setting | default | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {default} | {meaning} |" for name, default, meaning in PLATFORM_SETTINGS]
    for section in FAMILIES:
        title = section.__name__.removesuffix("Settings")
        lines += ["", f"## {title}", "", "| setting | default | meaning |", "|---|---|---|"]
        for name, field in section.model_fields.items():
            default = field.default
            shown = "–" if default in ("", None) else f"`{default}`"
            lines.append(f"| `{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(lines) + "\n"
