"""Clean-up: abandoned checkouts become leads (for one reminder) or are deleted; leads expire."""
