"""docs/api.md, the API reference in our own words, and openapi.json name the same routes, and each route
the same statuses: a `### METHOD /path` section per operation, whose table lists every status the document
declares for it, and no other."""

from __future__ import annotations

import json
import re

from tests.support.lambda_env import ROOT

REFERENCE = ROOT / "docs/api.md"
OPERATION = re.compile(r"^### (GET|POST|PUT|PATCH|DELETE) (/\S*)$", re.MULTILINE)
STATUS_ROW = re.compile(r"^\| ([1-5][0-9]{2}(?:, [1-5][0-9]{2})*) \|", re.MULTILINE)


def documented() -> dict[tuple[str, str], set[str]]:
    document = json.loads((ROOT / "openapi.json").read_text())
    return {
        (method.upper(), path): set(operation["responses"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


def referenced(text: str) -> dict[tuple[str, str], set[str]]:
    """Each operation's section (up to the next heading) and the statuses its table rows start with."""
    headings = list(OPERATION.finditer(text))
    sections: dict[tuple[str, str], set[str]] = {}
    for heading in headings:
        following = re.compile(r"^#{1,3} ", re.MULTILINE).search(text, heading.end())
        body = text[heading.end() : following.start() if following else None]
        key = (heading[1], heading[2])
        assert key not in sections, f"{key} has two sections"
        sections[key] = {code for row in STATUS_ROW.finditer(body) for code in row[1].split(", ")}
    return sections


def test_the_reference_has_a_section_for_every_operation_and_no_other():
    assert sorted(referenced(REFERENCE.read_text())) == sorted(documented())


def test_each_operation_lists_exactly_the_statuses_the_document_declares():
    reference = referenced(REFERENCE.read_text())
    mismatches = {
        f"{method} {path}": {
            "missing from docs/api.md": sorted(statuses - reference.get((method, path), set())),
            "not in openapi.json": sorted(reference.get((method, path), set()) - statuses),
        }
        for (method, path), statuses in documented().items()
        if reference.get((method, path)) != statuses
    }
    assert mismatches == {}


def test_the_errors_table_explains_every_status_the_document_uses():
    text = REFERENCE.read_text()
    errors = text[text.index("## Errors") : text.index("\n## ", text.index("## Errors") + 1)]
    explained = {code for row in STATUS_ROW.finditer(errors) for code in row[1].split(", ")}
    used = set().union(*documented().values())
    assert sorted(code for code in used if code >= "400" and code not in explained) == []
    assert sorted(explained - used - {"404"}) == []  # 404 also answers an unknown route


def test_the_reference_names_every_event_of_the_catalogue():
    catalogue = json.loads((ROOT / "asyncapi.json").read_text())
    text = REFERENCE.read_text()
    events = [message["name"] for message in catalogue["components"]["messages"].values()]
    assert [name for name in events if f"`{name}`" not in text] == []
