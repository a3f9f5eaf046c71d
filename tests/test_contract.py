import json
import re
from pathlib import Path

import pytest

from ecommerce_tasks.settings import PLATFORM_SETTINGS, Settings, SettingsError, reload_settings, settings_reference
from ecommerce_tasks.shop_events import SHOP_EVENT


def test_committed_json_schema_matches_the_code():
    committed = json.loads((Path(__file__).parent.parent / "docs" / "shop-events.schema.json").read_text())
    assert committed == SHOP_EVENT.json_schema(), "run: autopilot schema > docs/shop-events.schema.json"


def test_every_setting_is_in_the_sample_settings_and_the_generated_reference():
    root = Path(__file__).parent.parent
    names = {name.upper() for name in Settings.model_fields}
    for module in (root / "ecommerce_tasks").rglob("functions.py"):
        names |= set(re.findall(r'"%([A-Z_]+)%"', module.read_text()))
    names |= {name for name, _, _ in PLATFORM_SETTINGS if name.isupper()}
    sample = json.loads((root / "local.settings.sample.json").read_text())["Values"]
    reference = (root / "docs" / "settings.md").read_text()
    assert len(names) > 50
    assert sorted(names - set(sample) - {"LOCAL_FUNCTION_KEY"}) == []
    assert sorted(set(sample) - names - {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage", "AzureWebJobsFeatureFlags",
                                          "APPLICATIONINSIGHTS_CONNECTION_STRING"}) == []
    assert reference == settings_reference(), "run: autopilot settings-doc > docs/settings.md"
    assert sorted(n for n in names if f"`{n}`" not in reference) == []


def test_a_bad_setting_is_refused_with_its_name_and_what_is_allowed(monkeypatch):
    monkeypatch.setenv("PAYMENT_WINDOW_HOURS", "abc")
    monkeypatch.setenv("CLEANUP_MODE", "shred")
    monkeypatch.setenv("STRIPE_API_KEY", "x" * 5000)
    with pytest.raises(SettingsError) as refused:
        reload_settings()
    message = str(refused.value)
    assert "PAYMENT_WINDOW_HOURS: Input should be a valid number" in message and "(got 'abc')" in message
    assert "CLEANUP_MODE: Input should be 'archive' or 'delete'" in message
    assert "STRIPE_API_KEY" in message and "xxxx" not in message  # a secret's value is never echoed
    monkeypatch.undo()
    reload_settings()


def test_fractions_are_taken_where_minutes_hours_and_days_are_set(monkeypatch):
    monkeypatch.setenv("LEASE_MINUTES", "0.25")
    monkeypatch.setenv("PAYMENT_WINDOW_HOURS", "1.5")
    settings = reload_settings()
    assert (settings.lease_minutes, settings.payment_window_hours) == (0.25, 1.5)
    monkeypatch.undo()
    reload_settings()
