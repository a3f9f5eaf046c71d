import json
import re
from pathlib import Path

from ecommerce_tasks.shop_events import SHOP_EVENT


def test_committed_json_schema_matches_the_code():
    committed = json.loads((Path(__file__).parent.parent / "docs" / "shop-events.schema.json").read_text())
    assert committed == SHOP_EVENT.json_schema(), "run: autopilot schema > docs/shop-events.schema.json"


def test_every_setting_is_in_the_sample_settings_and_the_readme():
    root = Path(__file__).parent.parent
    code = (root / "ecommerce_tasks" / "settings.py").read_text()
    names = set(re.findall(r'(?:_str|_int|_float|_choice|os\.environ\.get)\("([A-Z][A-Za-z_]+)"', code))
    for module in (root / "ecommerce_tasks").rglob("functions.py"):
        names |= set(re.findall(r'"%([A-Z_]+)%"', module.read_text()))
    sample = json.loads((root / "local.settings.sample.json").read_text())["Values"]
    readme = (root / "README.md").read_text()
    assert len(names) > 40
    assert sorted(names - set(sample)) == []
    assert sorted(n for n in names if f"`{n}`" not in readme) == []
