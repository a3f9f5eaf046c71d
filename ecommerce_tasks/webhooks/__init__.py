"""Webhooks to the shop: every outbound event also as a signed HTTP call (Standard Webhooks)."""
