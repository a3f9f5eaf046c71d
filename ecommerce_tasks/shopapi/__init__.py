"""The shop's HTTP API: events in (POST /api/events) and an order's status (GET /api/orders/{id})."""
