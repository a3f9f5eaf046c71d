"""Leads: archived checkouts (PartitionKey = checkout id, RowKey "lead"), written by the clean-up
family and read by notifications for the one reminder. Shared data, so it lives here, as orders do."""

from __future__ import annotations

from azure.data.tables import TableClient

from .settings import get_settings
from .storage import table_client

LEAD_ROW = "lead"


def leads_table() -> TableClient:
    return table_client(get_settings().table("leads"))
