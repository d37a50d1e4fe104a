"""docs/api-examples.md runs: each request in it, sent to a server with the demo catalogue,
gets the answer shown (all but what differs from run to run), and the OpenAPI document
carries the same examples (api/examples.json) — on both backends."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from litestar.testing import AsyncTestClient

from api import examples
from api.app import create_app
from pricebook import keys
from pricebook.db import make_engine, transaction
from pricebook.demo import load_demo

DOC = Path(__file__).resolve().parents[1] / "docs" / "api-examples.md"
#: what differs from one run to the next (ids and times of the validation stored, the key)
VOLATILE = {"validation_id", "validated_at", "validated_by"}
#: lists whose order is not part of the answer (a labor line's included operations)
UNORDERED = {"includes"}
_BLOCK = re.compile(r"^```http\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def documented() -> list[dict]:
    """The doc's request/answer pairs: method, path, query, body; status and answer."""
    blocks = _BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert blocks and len(blocks) % 2 == 0, "requests and answers come in pairs"
    pairs = []
    for request, answer in zip(blocks[::2], blocks[1::2], strict=True):
        head, _, body = request.partition("\n\n")
        method, target = head.splitlines()[0].split(" ", 1)
        url = urlsplit(target)
        status_line, _, answered = answer.partition("\n\n")
        pairs.append({
            "method": method, "path": url.path,
            "query": {k: int(v) if v.isdigit() else v for k, v in parse_qsl(url.query)},
            "body": json.loads(body) if body.strip() else None,
            "status": int(status_line.split()[1]), "answer": json.loads(answered),
        })  # fmt: skip
    return pairs


def differences(got, shown, at: str = "") -> list[str]:
    """Where two JSON values differ, as paths (`lines[1].flags[0].cut: '13.20' != '13.30'`)."""
    if isinstance(got, dict) and isinstance(shown, dict):
        return [d for k in sorted(set(got) | set(shown), key=str)
                for d in differences(got.get(k), shown.get(k), f"{at}.{k}")]  # fmt: skip
    if isinstance(got, list) and isinstance(shown, list) and len(got) == len(shown):
        pairs = enumerate(zip(got, shown, strict=True))
        return [d for i, (g, w) in pairs for d in differences(g, w, f"{at}[{i}]")]
    return [] if got == shown else [f"{at}: {got!r} != {shown!r}"]


def stable(value):
    if isinstance(value, dict):
        return {
            k: sorted(stable(v), key=json.dumps) if k in UNORDERED else stable(v)
            for k, v in value.items()
            if k not in VOLATILE
        }
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def test_the_doc_and_the_openapi_examples_are_the_same():
    kept = [
        {k: getattr(e, k) for k in ("method", "path", "query", "body", "status", "answer")}
        for e in examples.load()
    ]
    assert documented() == kept
    assert {(e.method, e.path) for e in examples.load()} == {
        ("POST", "/api/v1/estimates/validate"), ("GET", "/api/v1/prices/resolve"),
        ("POST", "/api/v1/prices/resolve"), ("POST", "/api/v1/match"),
    }  # fmt: skip


@pytest.fixture
async def demo(settings) -> AsyncIterator[tuple[AsyncTestClient, str]]:
    engine = make_engine(settings)
    try:
        load_demo(engine)
        with transaction(engine) as session:
            key = keys.create_key(session, name="tool", role="estimate_tool", actor="test")[1]
    finally:
        engine.dispose()
    async with AsyncTestClient(create_app(settings)) as client:
        yield client, key


async def test_every_documented_request_gets_the_documented_answer(demo):
    client, key = demo
    for example in documented():
        r = await client.request(
            example["method"], example["path"], params=example["query"] or None,
            json=example["body"], headers={"X-API-Key": key},
        )  # fmt: skip
        label = f"{example['method']} {example['path']}"
        assert r.status_code == example["status"], (label, r.text)
        assert not differences(stable(r.json()), stable(example["answer"])), label


async def test_the_openapi_document_carries_the_examples(demo):
    client, _ = demo
    spec = (await client.get("/schema/openapi.json")).json()
    for example in examples.load():
        operation = spec["paths"][example.path][example.method.lower()]
        answer = operation["responses"][str(example.status)]["content"]["application/json"]
        assert answer["examples"][example.name]["value"] == example.answer
        if example.body is not None:
            body = operation["requestBody"]["content"]["application/json"]
            assert body["examples"][example.name]["value"] == example.body
        for parameter in operation.get("parameters") or []:
            if parameter["name"] in example.query:
                assert parameter["example"] == example.query[parameter["name"]]
