"""Shipping: labels for paid orders, tracking, and the customer's shipping news."""
