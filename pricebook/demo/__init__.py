"""Demo data: a deterministic, realistic catalogue to load into an empty Pricebook, and a large
synthetic one for benchmarks."""

from pricebook.demo.catalog import demo_rows
from pricebook.demo.data import SYNONYM_GROUPS
from pricebook.demo.load import load_demo
from pricebook.demo.scale import scale_demo

__all__ = ["SYNONYM_GROUPS", "demo_rows", "load_demo", "scale_demo"]
