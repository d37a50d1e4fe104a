"""Examples of the calls estimate tools make most, on the demo catalogue (`pricebook demo
load`): validate, resolve one price, resolve a batch, match names. Kept in examples.json —
the same requests and answers as docs/api-examples.md, which tests/test_api_examples.py sends
to a server with the demo catalogue — and put into the OpenAPI document by `api.spec`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parent / "examples.json"


@dataclass(frozen=True)
class Example:
    name: str
    summary: str
    method: str
    path: str
    #: the query parameters (a GET's request)
    query: dict[str, Any]
    #: the JSON body, None for none
    body: dict[str, Any] | None
    status: int
    answer: dict[str, Any]

    def attach(self, operation: dict[str, Any]) -> None:
        """Put the example into its operation of the OpenAPI document."""
        if self.body is not None:
            content = operation["requestBody"]["content"]["application/json"]
            content["examples"] = {self.name: {"summary": self.summary, "value": self.body}}
        for parameter in operation.get("parameters") or []:
            if parameter["name"] in self.query:
                parameter["example"] = self.query[parameter["name"]]
        response = operation["responses"][str(self.status)]
        media = response.setdefault("content", {}).setdefault("application/json", {})
        media["examples"] = {self.name: {"summary": self.summary, "value": self.answer}}


def load() -> list[Example]:
    return [Example(**item) for item in json.loads(SOURCE.read_text(encoding="utf-8"))]
