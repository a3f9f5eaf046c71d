"""The shared HTTP layer against the sandbox over real HTTP: what is retried, how long it waits."""

import time

import httpx
import pytest

from ecommerce_tasks.http import PermanentProviderError, TransientProviderError, _retry_after_seconds
from ecommerce_tasks.providers.payments import MolliePayments, PaymentState, StripePayments


def mollie(env):
    return MolliePayments(env.mollie_api_base_url, env.mollie_api_key)


def stripe(env):
    return StripePayments(env.stripe_api_base_url, env.stripe_api_key)


def test_mollie_payment_is_parsed(env, sandbox):
    sandbox.payment("mollie", "tr_parse0001", ["open"], amount="12.50", expires_in_seconds=900)
    status = mollie(env).fetch("tr_parse0001")
    assert status.state is PaymentState.OPEN and str(status.amount) == "12.50" and status.expires_at is not None


def test_stripe_amount_in_minor_units_is_converted(env, sandbox):
    sandbox.payment("stripe", "pi_parse0001", ["succeeded"], amount="12.50")
    status = stripe(env).fetch("pi_parse0001")
    assert status.state is PaymentState.PAID and str(status.amount) == "12.50" and status.currency == "EUR"


def test_retry_after_is_honoured(env, sandbox):
    sandbox.payment("mollie", "tr_ratel0001", ["paid"])
    sandbox.faults("tr_ratel0001", {"status": 429, "headers": {"Retry-After": "0.15"}})
    started = time.monotonic()
    assert mollie(env).fetch("tr_ratel0001").state is PaymentState.PAID
    assert time.monotonic() - started >= 0.15  # waited as told, not the 0.01 s backoff


def test_retries_run_out_into_a_transient_error(env, sandbox):
    sandbox.payment("mollie", "tr_ratel0002", ["paid"])
    sandbox.faults("tr_ratel0002", *[{"status": 429}] * 3)
    with pytest.raises(TransientProviderError):
        mollie(env).fetch("tr_ratel0002")
    assert sandbox.requests()["/mollie/v2/payments/tr_ratel0002"] == 3  # HTTP_MAX_ATTEMPTS


def test_a_payment_the_provider_does_not_know_is_an_answer_asked_once(env, sandbox):
    sandbox.payment("mollie", "tr_perm00404", ["paid"])
    sandbox.faults("tr_perm00404", {"status": 404})
    status = mollie(env).fetch("tr_perm00404")
    assert status.state.value == "unknown" and "HTTP 404" in status.provider_status
    assert sandbox.requests()["/mollie/v2/payments/tr_perm00404"] == 1


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_permanent_errors_are_not_retried(env, sandbox, status):
    sandbox.payment("mollie", "tr_perm00001", ["paid"])
    sandbox.faults("tr_perm00001", {"status": status})
    with pytest.raises(PermanentProviderError) as caught:
        mollie(env).fetch("tr_perm00001")
    assert caught.value.status == status
    assert sandbox.requests()["/mollie/v2/payments/tr_perm00001"] == 1


def test_wrong_key_is_permanent(env, sandbox):
    sandbox.payment("stripe", "pi_auth00001", ["succeeded"])
    with pytest.raises(PermanentProviderError) as caught:
        StripePayments(env.stripe_api_base_url, "sk_live_not_for_the_sandbox").fetch("pi_auth00001")
    assert caught.value.status == 401


def test_stripe_should_retry_header_decides(env, sandbox):
    sandbox.payment("stripe", "pi_retry0001", ["succeeded"])
    sandbox.faults("pi_retry0001", {"status": 500, "headers": {"Stripe-Should-Retry": "false"}})
    with pytest.raises(PermanentProviderError):
        stripe(env).fetch("pi_retry0001")
    sandbox.faults("pi_retry0001", {"status": 409, "headers": {"Stripe-Should-Retry": "true"}})
    assert stripe(env).fetch("pi_retry0001").state is PaymentState.PAID


def test_wait_headers_are_read():
    request = httpx.Request("GET", "http://x")
    assert _retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"}, request=request)) == 7
    reset = httpx.Response(429, headers={"X-RateLimit-Reset": str(int(time.time()) + 30)}, request=request)
    assert 28 <= _retry_after_seconds(reset) <= 30  # SendGrid: epoch seconds
    dated = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, request=request)
    assert _retry_after_seconds(dated) == 0
    assert _retry_after_seconds(httpx.Response(429, request=request)) is None
