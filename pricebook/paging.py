"""One page of a list, the shape every core listing returns (the API sends it as its own
`Page[X]`, with the items as wire types)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """`items` from `offset` on, at most `limit` of them, out of `total`."""

    items: list[T]
    total: int
    limit: int
    offset: int
