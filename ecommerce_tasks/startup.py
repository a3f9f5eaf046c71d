"""What must hold before the app takes work, checked once at import under the Functions host
(and by the local runner's `serve`), so a misconfiguration is one clear message, not a function
that silently fails to index or an e-mail that fails five times into poison."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

BINDING_SETTING = re.compile(r"%([A-Za-z0-9_]+)%")


class StartupError(RuntimeError):
    pass


def settings_needed(bindings: Iterable[tuple[str, str | None]]) -> dict[str, list[str]]:
    """(function name, binding expression) pairs -> setting name -> the functions that need it."""
    needed: dict[str, list[str]] = {}
    for function, value in bindings:
        for name in BINDING_SETTING.findall(value or ""):
            needed.setdefault(name, []).append(function)
    return needed


def app_bindings(app: Any) -> list[tuple[str, str | None]]:
    """The schedules and queue names of an app's functions, read without indexing the app (the
    library allows one indexing per process, and that one is the host's)."""
    found = []
    for builder in getattr(app, "_function_builders", []):
        function = builder._function
        trigger = function.get_trigger()
        for attribute in ("schedule", "queue_name"):
            found.append((function.get_function_name(), getattr(trigger, attribute, None)))
    return found


def on_azure(environ: Mapping[str, str] = os.environ) -> bool:
    return bool(environ.get("WEBSITE_INSTANCE_ID") or environ.get("WEBSITE_SITE_NAME"))  # App Service sets both


def problems(bindings: Iterable[tuple[str, str | None]], environ: Mapping[str, str] = os.environ) -> list[str]:
    found = []
    missing = {n: users for n, users in settings_needed(bindings).items() if not environ.get(n, "").strip()}
    if missing:
        listed = "; ".join(f"{name} (for {', '.join(users)})" for name, users in sorted(missing.items()))
        found.append(f"required app settings are not set: {listed}")
    if on_azure(environ) and environ.get("EMAIL_PROVIDER", "local").strip() in {"", "local"}:
        found.append("EMAIL_PROVIDER is 'local' (a folder of .eml files), but the app runs from a read-only package on Azure:"
                     " set EMAIL_PROVIDER to sendgrid or acs")
    return found


def check_startup(app: Any, environ: Mapping[str, str] = os.environ) -> None:
    """Under the Functions host (or on Azure), refuses to start with every problem named."""
    if not (environ.get("FUNCTIONS_WORKER_RUNTIME") or on_azure(environ)):
        return  # imported by a tool or a test: nothing is about to run
    found = problems(app_bindings(app), environ)
    if found:
        raise StartupError("the app cannot start: " + " | ".join(found))
