"""The core's exception hierarchy. The API maps each class to one HTTP status, the CLI to one line.

PricebookError
├── NotFound             a code or id that does not exist            (404)
├── InvalidInput         a value that breaks a rule; names the field (422)
│   └── ImportRejected   an import with bad rows; lists every one    (422)
├── Conflict             a write that would break history or overlap (409)
│   └── StaleVersion     an edit based on an outdated version        (412)
└── Unavailable          the database cannot be reached              (503)
"""

from __future__ import annotations

from dataclasses import dataclass


class PricebookError(Exception):
    """Base of every error the core raises on purpose."""

    title = "Pricebook error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(PricebookError):
    title = "Not found"


class InvalidInput(PricebookError):
    title = "Invalid input"


class Conflict(PricebookError):
    title = "Conflict"


class StaleVersion(Conflict):
    title = "Stale version"


class Unavailable(PricebookError):
    title = "Service unavailable"


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad cell of an import: row number as a spreadsheet shows it (header = row 1)."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


class ImportRejected(InvalidInput):
    title = "Import rejected"

    def __init__(self, kind: str, errors: list[RowError]) -> None:
        shown = "; ".join(str(e) for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{kind}: {len(errors)} bad row(s), nothing written: {shown}{more}")
        self.kind = kind
        self.errors = errors
