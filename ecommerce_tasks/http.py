"""The shared HTTP layer: one httpx client per process, transient failures retried with tenacity.

Transient: timeouts, connection errors, 429, 500, 502, 503, 504 (and whatever a provider flags as
retryable, e.g. Stripe-Should-Retry: true). Permanent: every other 4xx. Waits honour Retry-After and
X-RateLimit-Reset, otherwise exponential backoff with jitter; both capped. When tries run out the
TransientProviderError propagates, so the queue message goes back to the queue.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from .settings import get_settings
from .telemetry import PROVIDER_LATENCY

log = logging.getLogger("ecommerce_tasks.http")

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})

_client: httpx.Client | None = None
_client_lock = threading.Lock()


class ProviderError(Exception):
    def __init__(self, provider: str, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status
        self.retry_after = retry_after


class TransientProviderError(ProviderError):
    """Worth another try later."""


class PermanentProviderError(ProviderError):
    """The provider said no for good (400, 401, 403, 404, 422, ...)."""


def http_client() -> httpx.Client:
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                settings = get_settings()
                _client = httpx.Client(
                    timeout=httpx.Timeout(settings.http_timeout_seconds),
                    limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                    headers={"User-Agent": "webshop-autopilot/1.0"},
                )
    return _client


def close_http_client() -> None:
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
            _client = None


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time()) if when else None
    reset = response.headers.get("X-RateLimit-Reset")  # SendGrid: epoch seconds
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return None
    return None


def _wait(state: RetryCallState) -> float:
    settings = get_settings()
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, ProviderError) and exc.retry_after is not None:
        return min(exc.retry_after, settings.http_backoff_max_seconds)
    backoff = wait_exponential_jitter(
        initial=settings.http_backoff_base_seconds, max=settings.http_backoff_max_seconds, jitter=settings.http_backoff_base_seconds
    )
    return backoff(state)


def _describe(response: httpx.Response) -> str:
    text = response.text[:300].replace("\n", " ")
    return f"HTTP {response.status_code} {response.request.method} {response.request.url.path}: {text}"


def with_retries(provider: str, call: Callable[[], T]) -> T:
    """Runs call() until it succeeds, retrying TransientProviderError with the shared backoff.

    A create without an idempotency key passes a call that looks up before it creates, so a retry
    after an ambiguous failure (a timeout) never creates twice.
    """
    settings = get_settings()
    retrying = Retrying(
        stop=stop_after_attempt(max(1, settings.http_max_attempts)),
        wait=_wait,
        retry=retry_if_exception_type(TransientProviderError),
        reraise=True,
        before_sleep=lambda s: log.warning(
            "%s: try %d failed (%s), retrying", provider, s.attempt_number, s.outcome.exception() if s.outcome else ""
        ),
    )
    return retrying(call)


def request_json(provider: str, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    """Sends one request (with retries) and returns the JSON body of a 2xx answer."""
    return with_retries(provider, lambda: _json(send_once(provider, method, url, **kwargs)))


def request(provider: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Sends one request (with retries) and returns the 2xx response itself (headers, bytes)."""
    return with_retries(provider, lambda: send_once(provider, method, url, **kwargs))


def _json(response: httpx.Response) -> dict[str, Any]:
    return response.json() if response.content else {}


def send_once(provider: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One try, no retry: a 2xx response, or a Transient/PermanentProviderError."""
    started = time.perf_counter()
    try:
        response = http_client().request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientProviderError(provider, f"timeout on {method} {httpx.URL(url).path}: {exc!r}") from exc
    except httpx.TransportError as exc:
        raise TransientProviderError(provider, f"connection error on {method} {httpx.URL(url).path}: {exc!r}") from exc
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("%s %s %s took %.1f ms", provider, method, url, elapsed_ms)
    PROVIDER_LATENCY.record(elapsed_ms, {"provider": provider, "status": response.status_code})

    if response.is_success:
        return response
    should_retry = response.headers.get("Stripe-Should-Retry")
    transient = response.status_code in TRANSIENT_STATUS
    if should_retry is not None:
        transient = should_retry.lower() == "true"
    error = TransientProviderError if transient else PermanentProviderError
    raise error(provider, _describe(response), status=response.status_code, retry_after=_retry_after_seconds(response))
