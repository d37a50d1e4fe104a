"""The test catalogue (`tests/catalog_rows.py`) loads, with a key per role."""

from __future__ import annotations

from pricebook.models import ROLES
from tests.api_client import seed


def test_the_test_catalogue_loads(settings):
    assert set(seed(settings)) == set(ROLES)
