"""Money in every currency: ISO 4217 codes and minor units, and the providers' integer amounts.

The shop writes an amount as a decimal string with exactly as many decimals as the currency has
minor units (EUR "10.00", JPY "4250", KWD "1.250"), as Mollie expects it. The currencies and their
minor units come from the `iso4217` package (the published ISO 4217 table); codes without minor
units (XXX, XAU, XDR, ...) are not money a shop can be paid in.

Stripe writes amounts as integers in its own minor units: ISO's, except for the currencies its
documentation lists as zero-decimal (docs.stripe.com/currencies#zero-decimal), and ISK, which
Stripe keeps two-decimal for backward compatibility (#special-cases).
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from iso4217 import raw_table

# Stripe's zero-decimal currencies, as its documentation lists them (MGA is two-decimal in ISO).
STRIPE_ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"})
STRIPE_TWO_DECIMAL = frozenset({"ISK"})  # zero-decimal in ISO 4217; Stripe amounts still carry two


@lru_cache(maxsize=None)
def minor_units(currency: str) -> int | None:
    """ISO 4217 minor units of a currency code; None for an unknown code or one without units."""
    entry = raw_table.get(currency) or {}
    units = entry.get("CcyMnrUnts")
    return int(units) if isinstance(units, str) and units.isdigit() else None


def is_currency(code: str) -> bool:
    return minor_units(code) is not None


def stripe_minor_units(currency: str) -> int:
    code = currency.upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_TWO_DECIMAL:
        return 2
    units = minor_units(code)
    if units is None:
        raise ValueError(f"{currency!r} is not an ISO 4217 currency")
    return units


def from_stripe(amount: int, currency: str) -> Decimal:
    """Stripe's integer amount as a decimal in the currency's major unit: 4250 JPY -> 4250."""
    return Decimal(int(amount)).scaleb(-stripe_minor_units(currency))


def to_stripe(value: Decimal | str, currency: str) -> int:
    """A decimal amount as Stripe's integer: 10.00 EUR -> 1000, 1.250 KWD -> 1250."""
    scaled = Decimal(value).scaleb(stripe_minor_units(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} {currency} has more decimals than Stripe's minor units")
    return int(scaled)


def decimals_of(value: str) -> int:
    return len(value.partition(".")[2])


def format_amount(value: Decimal, currency: str) -> str:
    """A decimal written the way the data contract writes money in that currency."""
    units = minor_units(currency)
    places = Decimal(1).scaleb(-units) if units is not None else Decimal("0.01")
    return str(value.quantize(places))
