"""The shared HTTP layer: one httpx client per process, transient failures retried with tenacity.

Transient: timeouts, connection errors, 429, 500, 502, 503, 504 (and whatever a provider flags as
retryable, e.g. Stripe-Should-Retry: true). Permanent: every other 4xx. Waits honour Retry-After and
X-RateLimit-Reset, otherwise exponential backoff with jitter; both capped. When tries run out the
TransientProviderError propagates, so the queue message goes back to the queue.
"""

from __future__ import annotations

import email.utils
import logging
import math
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
    def __init__(self, provider: str, message: str, status: int | None = None, retry_after: float | None = None, detail: str = ""):
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        self.detail = detail  # the provider's own words, e.g. Mollie's `detail`, Stripe's `error.message`


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
    """Seconds to wait as the provider asks, or None (use the backoff) when it asks nothing we can
    read: a header is the provider's word, not ours, and a garbage value must not break a retry."""
    value = response.headers.get("Retry-After", "").strip()
    if value:
        seconds = _number(value)
        if seconds is None:
            try:
                when = email.utils.parsedate_to_datetime(value)
                seconds = when.timestamp() - time.time() if when.tzinfo else None
            except (TypeError, ValueError, IndexError, OverflowError):
                seconds = None
        if seconds is not None:
            return max(0.0, seconds)
    reset = _number(response.headers.get("X-RateLimit-Reset", "").strip())  # SendGrid: epoch seconds
    return max(0.0, reset - time.time()) if reset is not None else None


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


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
    """One try, no retry: a 2xx response, or a Transient/PermanentProviderError. Its latency is
    recorded however it ends: the HTTP status, or `timeout` / `error` when no answer came."""
    started = time.perf_counter()
    status: int | str = "error"
    try:
        response = http_client().request(method, url, **kwargs)
        status = response.status_code
    except httpx.TimeoutException as exc:
        status = "timeout"
        raise TransientProviderError(provider, f"timeout on {method} {httpx.URL(url).path}: {exc!r}") from exc
    except httpx.TransportError as exc:
        raise TransientProviderError(provider, f"connection error on {method} {httpx.URL(url).path}: {exc!r}") from exc
    finally:
        PROVIDER_LATENCY.record((time.perf_counter() - started) * 1000, {"provider": provider, "status": status})

    if response.is_success:
        return response
    raise refusal(provider, response)


def refusal(provider: str, response: httpx.Response) -> ProviderError:
    """The error a non-2xx answer stands for: transient (429, 5xx, or what the provider flags as
    retryable) or permanent, with the provider's words and its Retry-After."""
    should_retry = response.headers.get("Stripe-Should-Retry")
    transient = response.status_code in TRANSIENT_STATUS
    if should_retry is not None:
        transient = should_retry.lower() == "true"
    error = TransientProviderError if transient else PermanentProviderError
    return error(provider, _describe(response), status=response.status_code, retry_after=_retry_after_seconds(response),
                 detail=_error_detail(response))


def _error_detail(response: httpx.Response) -> str:
    """The human part of a provider's error body: Mollie {"detail"}, Stripe {"error": {"message"}},
    SendGrid {"errors": [{"message"}]}; bounded, and empty when the body says nothing we know."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return ""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    errors = body.get("errors")
    candidates = [body.get("detail"), body.get("title"), error.get("message") if isinstance(error, dict) else error,
                  errors[0].get("message") if isinstance(errors, list) and errors and isinstance(errors[0], dict) else None]
    return next((str(c)[:300] for c in candidates if isinstance(c, str) and c), "")


def origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def require_origin(provider: str, url: str, base_url: str) -> httpx.URL:
    """A URL a provider handed back may be called with our credentials only if it is on the API
    host we configured (scheme, host and port alike): https in production, the sandbox's own http
    base locally because that is what is configured. Anything else is a permanent refusal."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise PermanentProviderError(provider, "the answer names a malformed URL") from None
    if parsed.scheme not in {"https", "http"} or origin(str(parsed)) != origin(base_url):
        raise PermanentProviderError(provider, f"refused a URL outside the configured API host: {parsed.scheme}://{parsed.host}")
    return parsed


MAX_REDIRECTS = 3


def download(provider: str, url: str, base_url: str, *, max_bytes: int, magic: bytes = b"", **kwargs: Any) -> bytes:
    """Fetches a document a provider links to (with retries): only from the configured host,
    following redirects only within it, at most max_bytes, and starting with `magic` (b"%PDF-")."""
    return with_retries(provider, lambda: _download_once(provider, url, base_url, max_bytes, magic, **kwargs))


def _download_once(provider: str, url: str, base_url: str, max_bytes: int, magic: bytes, **kwargs: Any) -> bytes:
    target = require_origin(provider, url, base_url)
    for _ in range(MAX_REDIRECTS + 1):
        started = time.perf_counter()
        status: int | str = "error"
        try:
            with http_client().stream("GET", target, follow_redirects=False, **kwargs) as response:
                status = response.status_code
                if response.is_redirect:
                    target = require_origin(provider, str(target.join(response.headers.get("Location", ""))), base_url)
                    continue
                if not response.is_success:
                    response.read()
                    raise refusal(provider, response)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise PermanentProviderError(provider, f"document of {declared} bytes refused (at most {max_bytes})")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise PermanentProviderError(provider, f"document larger than {max_bytes} bytes refused")
        except httpx.TimeoutException as exc:
            status = "timeout"
            raise TransientProviderError(provider, f"timeout on GET {target.path}: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise TransientProviderError(provider, f"connection error on GET {target.path}: {exc!r}") from exc
        finally:
            PROVIDER_LATENCY.record((time.perf_counter() - started) * 1000, {"provider": provider, "status": status})
        if magic and not body.startswith(magic):
            raise PermanentProviderError(provider, f"document is not of the expected kind (does not start with {magic!r})")
        return bytes(body)
    raise PermanentProviderError(provider, f"more than {MAX_REDIRECTS} redirects")
