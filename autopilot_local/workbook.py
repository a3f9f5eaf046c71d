"""The Azure Monitor workbook the Bicep deploys, generated from the queries in docs/operations.md
(one source: what the docs say an operator can ask is what the workbook shows)."""

from __future__ import annotations

import json
import re
from pathlib import Path

OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
CHARTS = {"table", "timechart", "barchart", "piechart"}


def queries(text: str | None = None) -> list[tuple[str, str, str]]:
    """(title, chart, query) for every `### title` + kusto block of the `## Queries` section."""
    text = OPERATIONS.read_text() if text is None else text
    section = ("\n" + text).split("\n## Queries\n", 1)[1].split("\n## ", 1)[0]
    found = []
    for match in re.finditer(r"^### (.+?)\n.*?```kusto\n(.*?)```", section, re.S | re.M):
        title, body = match.group(1).strip(), match.group(2)
        first, _, rest = body.partition("\n")
        chart = first.removeprefix("// chart:").strip()
        if not first.startswith("// chart:") or chart not in CHARTS:
            raise ValueError(f"query {title!r}: its first line must be `// chart: <{'|'.join(sorted(CHARTS))}>`")
        found.append((title, chart, rest.rstrip("\n")))
    return found


def workbook() -> dict:
    items: list[dict] = [{
        "type": 1, "name": "intro",
        "content": {"json": "## Webshop autopilot\nThe app's own rows only (each invocation once), counted with `sum(itemCount)`. "
                            "Generated from docs/operations.md: `autopilot workbook > infra/workbook.json`."},
    }]
    for index, (title, chart, query) in enumerate(queries()):
        items.append({
            "type": 3, "name": f"query-{index}",
            "content": {"version": "KqlItem/1.0", "query": query, "size": 0, "title": title, "queryType": 0,
                        "timeContext": {"durationMs": 30 * 24 * 3600 * 1000},  # the queries filter their own time
                        "resourceType": "microsoft.insights/components", "visualization": chart},
        })
    return {"version": "Notebook/1.0", "items": items, "fallbackResourceIds": [],
            "$schema": "https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json"}


def render() -> str:
    return json.dumps(workbook(), indent=2) + "\n"
