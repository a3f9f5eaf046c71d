"""Inventory: stock events applied exactly once, an audit ledger, availability that follows stock."""
