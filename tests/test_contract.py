import json
from pathlib import Path

from ecommerce_tasks.intake.events import SHOP_EVENT


def test_committed_json_schema_matches_the_code():
    committed = json.loads((Path(__file__).parent.parent / "docs" / "shop-events.schema.json").read_text())
    assert committed == SHOP_EVENT.json_schema(), "run: python -m ecommerce_tasks schema > docs/shop-events.schema.json"
