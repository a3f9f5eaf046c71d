"""Payments: find orders awaiting payment, ask the provider, mark them paid or cancel them."""
