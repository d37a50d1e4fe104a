"""What an import reports: counts per action and the first changes one by one (a preview)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

#: how many changes a report lists one by one (its counts cover every row): what a person
#: reads in a preview, and a bound on what a dry run of a large file holds
CHANGES_KEPT = 500


@dataclass(frozen=True, slots=True)
class RowChange:
    """One change an import makes, as a preview lists it. `row` is the file's row (0 where the
    change is a code's, named by `key`: a plain kind's rows are merged by code); `before` and
    `after` are the stored values (a versioned kind's value as `value_of` reads it, the end
    day for a `close`, a plain kind's changed columns as dicts)."""

    row: int
    action: str  # create, supersede, close, update
    key: str
    before: object
    after: object
    valid_from: date | None = None


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    superseded: int = 0
    closed: int = 0
    unchanged: int = 0
    #: rows deleted (only the synonym dictionary deletes: it is not history).
    removed: int = 0
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    #: the first CHANGES_KEPT changes, in the order they were planned
    changes: list[RowChange] = field(default_factory=list)

    def note_change(self, change: RowChange) -> None:
        if len(self.changes) < CHANGES_KEPT:
            self.changes.append(change)

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.superseded + self.closed + self.removed

    def summary(self) -> str:
        verb = "would change" if self.dry_run else "changed"
        removed = f", removed {self.removed}" if self.removed else ""
        return (
            f"{self.kind}: {self.rows} rows; {verb} {self.changed} "
            f"(created {self.created}, updated {self.updated}, superseded {self.superseded}, "
            f"closed {self.closed}{removed}); unchanged {self.unchanged}"
        )
