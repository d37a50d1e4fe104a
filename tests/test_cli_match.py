"""`pricebook match` and `pricebook match-eval`, as a person runs them (a subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.processes import pricebook

EVAL_FILE = Path(__file__).parent / "data" / "match_eval.csv"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('match') / 'demo.db'}"
    assert pricebook("db", "upgrade", database_url=url).returncode == 0
    loaded = pricebook("demo", "load", database_url=url)
    assert loaded.returncode == 0, loaded.stderr
    return url


def test_match_json_writes_one_object_per_input_line_in_order(demo_db):
    names = ["前叶子板（左）", "右前翼子板 原厂", "", "qbxg", "机盖", "完全不相干的东西"]
    result = pricebook(
        "match",
        "--model",
        "VW-LAVIDA-23A",
        "--json",
        database_url=demo_db,
        stdin="\n".join(names) + "\n",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(names)
    objects = [json.loads(line) for line in lines]
    assert [o["query"] for o in objects] == names
    for o in objects:
        assert {"query", "decision", "side", "candidates"} <= set(o)
        assert o["decision"] in {"matched", "suggested", "unmatched"}
        scores = [c["score"] for c in o["candidates"]]
        assert scores == sorted(scores, reverse=True)  # best first
        for c in o["candidates"]:
            assert {"part_code", "name", "score", "reason"} <= set(c)
    left, right, blank, pinyin, hood, nothing = objects
    assert left["decision"] == "matched" and left["side"]["label"] == "左前"
    assert left["candidates"][0] | {"score": 0, "confidence": 0} == {
        "part_code": "VW1-0018", "name": "左前翼子板", "score": 0, "reason": "alias_exact",
        "confidence": 0,
    }  # fmt: skip
    assert right["candidates"][0]["part_code"] == "VW1-0019"
    assert blank == {
        "query": "",
        "decision": "unmatched",
        "reason": None,
        "candidates": [],
        "side": {
            "lateral": None,
            "longitudinal": None,
            "vertical": None,
            "depth": None,
            "ambiguous": False,
            "label": "",
        },
    }
    assert pinyin["candidates"][0]["reason"] == "pinyin"
    assert hood["candidates"][0]["name"] == "发动机盖"
    assert nothing["decision"] == "unmatched"


def test_match_model_by_id_and_table_output(demo_db):
    result = pricebook(
        "match", "--model", "1", "--top", "2", database_url=demo_db, stdin="左前叶子板\n"
    )
    assert result.returncode == 0, result.stderr
    assert "左前叶子板  [matched, alias_exact; side 左前]" in result.stdout
    assert "1. VW1-0018" in result.stdout and "3." not in result.stdout


def test_match_unknown_model_is_one_line_error(demo_db):
    result = pricebook("match", "--model", "NOPE", database_url=demo_db, stdin="机盖\n")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: unknown model 'NOPE' (give a model id or code)"


def test_match_eval_prints_the_figures(demo_db):
    result = pricebook("match-eval", str(EVAL_FILE), database_url=demo_db)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for label in ("top-1", "top-3", "false auto-accepts", "side errors"):
        assert label in out
    top1 = float(out.split("top-1", 1)[1].split("%", 1)[0])
    assert top1 >= 95.0
    assert "side errors         0" in out
    assert "PASS" in out


def test_match_eval_exits_1_under_the_thresholds(demo_db, tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(
        "name,model_code,expected_part_code,note\n左前叶子板,VW-LAVIDA-23A,VW1-0001,wrong label\n",
        encoding="utf-8",
    )
    result = pricebook("match-eval", str(wrong), database_url=demo_db)
    assert result.returncode == 1 and "FAIL: top-1 0.0% < 95%" in result.stdout
    assert pricebook("match-eval", str(wrong), "--no-fail", database_url=demo_db).returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("name,model_code,expected_part_code\n机盖,,NOPE\n", encoding="utf-8")
    result = pricebook("match-eval", str(bad), database_url=demo_db)
    assert result.returncode == 1 and "unknown part 'NOPE'" in result.stderr


def test_match_eval_typed_reports_both_halves_and_passes_on_the_held_out_one(demo_db):
    result = pricebook("match-eval", "--typed", "--failures", "3", database_url=demo_db)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "names as typed, tuning half" in out and "names as typed, held-out half" in out
    held_out = out.split("held-out half", 1)[1]
    assert float(held_out.split("top-1", 1)[1].split("%", 1)[0]) >= 98.0
    assert float(held_out.split("top-3", 1)[1].split("%", 1)[0]) >= 99.5
    assert "side errors         0" in held_out
    assert "PASS" in out and "held-out top-1 >= 98%" in out


def test_match_eval_needs_a_file_or_typed(demo_db):
    result = pricebook("match-eval", database_url=demo_db)
    assert result.returncode == 1 and "--typed" in result.stderr
