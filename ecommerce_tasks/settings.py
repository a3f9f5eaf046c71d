"""Typed settings, read from app settings (environment variables on the Functions host)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

AZURITE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    # Azurite's well-known development key, published in its documentation: not a secret.
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


def _str(name: str, default: str) -> str:
    return os.environ.get(name, default).strip() or default


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def _choice(name: str, default: str, allowed: set[str]) -> str:
    value = _str(name, default)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, not {value!r}")
    return value


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
            raise ValueError(f"identity-based storage needs {prefix}accountName or {prefix}<service>ServiceUri for {missing}")
        return cls(
            endpoints=tuple(endpoints.items()),
            managed_identity=os.environ.get(prefix + "credential", "").strip().lower() == "managedidentity",
            client_id=os.environ.get(prefix + "clientId", "").strip() or os.environ.get("AZURE_CLIENT_ID", "").strip(),
        )


# Every table the app uses (each name gets TABLE_PREFIX in front).
TABLES = ("orders", "paymentlookup", "duework", "failures", "runs", "stock", "checkouts", "customers", "leads", "notifications")


@dataclass(frozen=True)
class Settings:
    storage: StorageAccess
    storage_connection: str  # "" when storage is reached with an identity
    table_prefix: str
    shop_events_queue: str
    shop_outcomes_queue: str
    payment_checks_queue: str
    stock_updates_queue: str
    cleanup_queue: str
    label_requests_queue: str
    tracking_queue: str
    notifications_queue: str

    mollie_api_base_url: str
    mollie_api_key: str
    stripe_api_base_url: str
    stripe_api_key: str
    stripe_webhook_secret: str

    http_timeout_seconds: float
    http_max_attempts: int
    http_backoff_base_seconds: float
    http_backoff_max_seconds: float

    fanout_concurrency: int
    unknown_entity_tries: int
    event_max_future_hours: float
    payment_first_check_minutes: float
    payment_backoff_base_minutes: float
    payment_backoff_max_minutes: float
    payment_window_hours: float
    lease_minutes: float
    late_payment_watch_days: float
    cleanup_mode: str
    abandoned_after_hours: float
    empty_cart_after_hours: float
    lead_retention_days: float
    cleanup_chunk: int
    cleanup_max_per_run: int

    carrier: str
    sendcloud_api_base_url: str
    sendcloud_public_key: str
    sendcloud_secret_key: str
    sendcloud_shipping_method_id: int
    postnl_api_base_url: str
    postnl_api_key: str
    postnl_customer_code: str
    postnl_customer_number: str
    postnl_product_code: str
    local_tracking_url: str
    labels_container: str
    ship_from: dict[str, str]
    default_parcel_weight_grams: int
    tracking_interval_minutes: float
    tracking_silent_days: float
    side_effect_lease_seconds: float

    email_provider: str
    email_from: str
    email_from_name: str
    sendgrid_api_base_url: str
    sendgrid_api_key: str
    acs_connection_string: str
    email_outbox_dir: str
    email_templates_dir: str
    shop_name: str
    shop_url: str

    @classmethod
    def from_env(cls) -> "Settings":
        storage = StorageAccess.from_env()
        return cls(
            storage=storage,
            storage_connection=storage.connection_string,
            table_prefix=_str("TABLE_PREFIX", "shop"),
            shop_events_queue=_str("SHOP_EVENTS_QUEUE", "shop-events"),
            shop_outcomes_queue=_str("SHOP_OUTCOMES_QUEUE", "shop-outcomes"),
            payment_checks_queue=_str("PAYMENT_CHECKS_QUEUE", "payment-checks"),
            stock_updates_queue=_str("STOCK_UPDATES_QUEUE", "stock-updates"),
            cleanup_queue=_str("CLEANUP_QUEUE", "cleanup-work"),
            mollie_api_base_url=_str("MOLLIE_API_BASE_URL", "https://api.mollie.com/v2"),
            mollie_api_key=os.environ.get("MOLLIE_API_KEY", ""),
            stripe_api_base_url=_str("STRIPE_API_BASE_URL", "https://api.stripe.com/v1"),
            stripe_api_key=os.environ.get("STRIPE_API_KEY", ""),
            stripe_webhook_secret=os.environ.get("STRIPE_WEBHOOK_SECRET", "").strip(),
            http_timeout_seconds=_float("HTTP_TIMEOUT_SECONDS", 10.0),
            http_max_attempts=_int("HTTP_MAX_ATTEMPTS", 4),
            http_backoff_base_seconds=_float("HTTP_BACKOFF_BASE_SECONDS", 0.5),
            http_backoff_max_seconds=_float("HTTP_BACKOFF_MAX_SECONDS", 20.0),
            fanout_concurrency=_int("FANOUT_CONCURRENCY", 64),
            unknown_entity_tries=_int("UNKNOWN_ENTITY_TRIES", 3),
            event_max_future_hours=_float("EVENT_MAX_FUTURE_HOURS", 24),
            payment_first_check_minutes=_float("PAYMENT_FIRST_CHECK_MINUTES", 2.0),
            payment_backoff_base_minutes=_float("PAYMENT_BACKOFF_BASE_MINUTES", 5.0),
            payment_backoff_max_minutes=_float("PAYMENT_BACKOFF_MAX_MINUTES", 360.0),
            payment_window_hours=_float("PAYMENT_WINDOW_HOURS", 72.0),
            lease_minutes=_float("LEASE_MINUTES", 10.0),  # one neutral lease for every family
            late_payment_watch_days=_float("LATE_PAYMENT_WATCH_DAYS", 30.0),
            cleanup_mode=_choice("CLEANUP_MODE", "archive", {"archive", "delete"}),
            abandoned_after_hours=_float("ABANDONED_AFTER_HOURS", 24.0),
            empty_cart_after_hours=_float("EMPTY_CART_AFTER_HOURS", 2.0),
            lead_retention_days=_float("LEAD_RETENTION_DAYS", 90.0),
            cleanup_chunk=_int("CLEANUP_CHUNK", 50),
            cleanup_max_per_run=_int("CLEANUP_MAX_PER_RUN", 20_000),
            label_requests_queue=_str("LABEL_REQUESTS_QUEUE", "label-requests"),
            tracking_queue=_str("TRACKING_QUEUE", "tracking-checks"),
            notifications_queue=_str("NOTIFICATIONS_QUEUE", "notifications"),
            carrier=_choice("CARRIER", "local", {"local", "sendcloud", "postnl"}),
            sendcloud_api_base_url=_str("SENDCLOUD_API_BASE_URL", "https://panel.sendcloud.sc/api/v2"),
            sendcloud_public_key=os.environ.get("SENDCLOUD_PUBLIC_KEY", ""),
            sendcloud_secret_key=os.environ.get("SENDCLOUD_SECRET_KEY", ""),
            sendcloud_shipping_method_id=_int("SENDCLOUD_SHIPPING_METHOD_ID", 8),
            postnl_api_base_url=_str("POSTNL_API_BASE_URL", "https://api.postnl.nl"),
            postnl_api_key=os.environ.get("POSTNL_API_KEY", ""),
            postnl_customer_code=_str("POSTNL_CUSTOMER_CODE", "DEVC"),
            postnl_customer_number=_str("POSTNL_CUSTOMER_NUMBER", "11223344"),
            postnl_product_code=_str("POSTNL_PRODUCT_CODE", "3085"),
            local_tracking_url=_str("LOCAL_TRACKING_URL", "https://track.example.com/{tracking_number}"),
            labels_container=_str("LABELS_CONTAINER", "labels"),
            ship_from={
                "name": _str("SHIP_FROM_NAME", "Example Shop"),
                "street": _str("SHIP_FROM_STREET", "Stationsplein"),
                "house_number": _str("SHIP_FROM_HOUSE_NUMBER", "1"),
                "postal_code": _str("SHIP_FROM_POSTAL_CODE", "1012AB"),
                "city": _str("SHIP_FROM_CITY", "Amsterdam"),
                "country": _str("SHIP_FROM_COUNTRY", "NL"),
            },
            default_parcel_weight_grams=_int("DEFAULT_PARCEL_WEIGHT_GRAMS", 1000),
            tracking_interval_minutes=_float("TRACKING_INTERVAL_MINUTES", 240.0),
            tracking_silent_days=_float("TRACKING_SILENT_DAYS", 5.0),
            side_effect_lease_seconds=_float("SIDE_EFFECT_LEASE_SECONDS", 120.0),
            email_provider=_choice("EMAIL_PROVIDER", "local", {"local", "sendgrid", "acs"}),
            email_from=_str("EMAIL_FROM", "shop@example.com"),
            email_from_name=_str("EMAIL_FROM_NAME", "Example Shop"),
            sendgrid_api_base_url=_str("SENDGRID_API_BASE_URL", "https://api.sendgrid.com/v3"),
            sendgrid_api_key=os.environ.get("SENDGRID_API_KEY", ""),
            acs_connection_string=os.environ.get("ACS_CONNECTION_STRING", ""),
            email_outbox_dir=_str("EMAIL_OUTBOX_DIR", ".local/emails"),
            email_templates_dir=os.environ.get("EMAIL_TEMPLATES_DIR", "").strip(),
            shop_name=_str("SHOP_NAME", "Example Shop"),
            shop_url=_str("SHOP_URL", "https://shop.example.com"),
        )

    def queues(self) -> list[str]:
        """Every queue the app reads or writes (the host adds `<queue>-poison` itself)."""
        return [self.shop_events_queue, self.shop_outcomes_queue, self.payment_checks_queue, self.stock_updates_queue,
                self.cleanup_queue, self.label_requests_queue, self.tracking_queue, self.notifications_queue]

    def table(self, name: str) -> str:
        """Table names are alphanumeric; the prefix lets several shops or test runs share an account."""
        return f"{self.table_prefix}{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def reload_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()
