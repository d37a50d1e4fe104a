"""OE numbers are normalised by one rule for imports, searches and matching."""

from pricebook import catalog
from pricebook.matching.normalize import normalize_oe as matching_normalize_oe


def test_one_rule_serves_imports_searches_and_matching():
    assert catalog.normalize_oe is matching_normalize_oe


def test_spaces_dashes_dots_case_and_full_width_are_folded():
    assert catalog.normalize_oe("5g0-807 221.a") == "5G0807221A"
    assert catalog.normalize_oe("５Ｇ０ ８０７ ２２１ Ａ") == "5G0807221A"
    assert catalog.normalize_oe("52119-02A10") == "5211902A10"
