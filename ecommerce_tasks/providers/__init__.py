"""Adapters for the real providers, each behind a small Protocol."""
