import json
import logging

from ecommerce_tasks.logs import mask_email, mask_name, mask_text
from tests.conftest import function, order_event, send_raw


def test_masks():
    assert mask_email("jane.doe@example.com") == "j***@e***.com"
    assert mask_name("Jane Doe") == "J*** D***"
    body = json.dumps({"customer": {"email": "jane.doe@example.com", "name": "Jane Doe"}})
    masked = mask_text(body)
    assert "jane.doe" not in masked and "Jane Doe" not in masked and '"name":"J*** D***"' in masked


def test_no_customer_email_or_name_reaches_the_logs_or_failure_records(host, env, caplog):
    caplog.set_level(logging.DEBUG)
    send_raw(env.shop_events_queue, order_event("o-logs"))
    send_raw(env.shop_events_queue, {**order_event("o-logs-bad"), "amount": "x"})
    host.drain(function(host, "intake_shop_events"))
    from ecommerce_tasks.work import failure_for

    record = failure_for(env.shop_events_queue, json.dumps({**order_event("o-logs-bad"), "amount": "x"}))
    assert "Jane Doe" not in record["body"] and "jane.doe@example.com" not in record["body"]
    assert "o-logs" in caplog.text  # the logs did talk about these orders
    assert "jane.doe@example.com" not in caplog.text and "Jane Doe" not in caplog.text
