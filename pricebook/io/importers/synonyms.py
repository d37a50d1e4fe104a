"""The synonyms kind: the matcher's colloquial dictionary, by term."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from pricebook import audit
from pricebook.io.importers.cells import ImportContext, bool_cell, chunks, text_cell
from pricebook.io.importers.plain import audit_entry
from pricebook.io.tables import Row
from pricebook.models import SynonymTerm
from pricebook.money import quote

#: Longest synonym term (characters).
MAX_TERM = 50


def import_synonyms(ctx: ImportContext, rows: list[tuple[int, Row]]) -> None:
    """The colloquial dictionary of the matcher: one row per term, ``canonical`` names its group
    (叶子板 → 翼子板). A row sets the term's group (moving it from another group); with
    ``remove=1`` it takes the term out. While the table is empty the matcher uses the shipped
    dictionary, so the first import starts from it: the shipped terms are stored first, then
    the file applies — importing one new group never loses the rest."""
    stored = {
        term: (id_, canonical)
        for id_, canonical, term in ctx.session.execute(
            select(SynonymTerm.id, SynonymTerm.canonical, SynonymTerm.term)
        )
    }
    desired = _synonyms_to_start_from(ctx, stored)
    seen = _apply_synonym_rows(ctx, rows, desired)
    _check_synonym_groups(ctx, rows, desired, seen)
    ctx.raise_if_errors()
    _write_synonyms(ctx, stored, desired, seen)


#: a term given in the file: (row, canonical, remove)
_SynonymRows = dict[str, tuple[int, str, bool]]


def _synonyms_to_start_from(
    ctx: ImportContext, stored: dict[str, tuple[int, str]]
) -> dict[str, str]:
    from pricebook.matching.synonyms import default_synonym_groups

    desired: dict[str, str] = {term: canonical for term, (_, canonical) in stored.items()}
    if not stored:
        for group in default_synonym_groups():
            for member in group:
                desired.setdefault(member, group[0])
        ctx.report.notes.append(
            f"synonym_terms was empty: started from the {len(desired)} shipped terms"
        )
    return desired


def _apply_synonym_rows(
    ctx: ImportContext, rows: list[tuple[int, Row]], desired: dict[str, str]
) -> _SynonymRows:
    """Apply each row to `desired` (term → canonical), refusing a term given twice differently
    and a removal of a term not in the group named."""
    seen: _SynonymRows = {}
    for n, row in rows:
        canonical = text_cell(ctx, n, row, "canonical")
        term = text_cell(ctx, n, row, "term")
        remove = bool_cell(ctx, n, row, "remove")
        bad = False
        for column, value in (("canonical", canonical), ("term", term)):
            if value and (len(value) > MAX_TERM or any(c in value for c in "\t\r\n\x00")):
                ctx.error(n, column, f"at most {MAX_TERM} characters, no tabs or line breaks")
                bad = True
        if not canonical or not term or bad:
            continue
        if term in seen and seen[term][1:] != (canonical, remove):
            ctx.error(
                n, "term", f"{quote(term)} is already given differently in row {seen[term][0]}"
            )
            continue
        seen[term] = (n, canonical, remove)
        if remove:
            if desired.get(term) != canonical:
                ctx.error(n, "term", f"{quote(term)} is not in the group of {quote(canonical)}")
            else:
                del desired[term]
        else:
            desired[term] = canonical
    for _, canonical, remove in seen.values():
        if not remove:
            desired.setdefault(canonical, canonical)  # a canonical word is in its own group
    return seen


def _check_synonym_groups(
    ctx: ImportContext, rows: list[tuple[int, Row]], desired: dict[str, str], seen: _SynonymRows
) -> None:
    """The groups the file leaves: a canonical word names one group and is no other group's
    term, a group is removed with its terms, and no two terms read the same once cleaned."""
    from pricebook.matching.synonyms import SynonymTable

    canonicals = set(desired.values())
    for term, (n, canonical, remove) in seen.items():
        if remove:
            if term == canonical and canonical in canonicals:
                ctx.error(
                    n, "term", f"the group of {quote(canonical)} still has terms: remove them too"
                )
        elif desired.get(canonical) != canonical:
            ctx.error(
                n,
                "canonical",
                f"{quote(canonical)} is a term of the group of {desired.get(canonical)!r}, "
                "so it cannot name a group",
            )
        elif term != canonical and term in canonicals:
            ctx.error(n, "term", f"{quote(term)} names a group of its own: move its terms first")
    if not ctx.errors:
        groups: dict[str, list[str]] = {}
        for term, canonical in desired.items():
            groups.setdefault(canonical, [canonical])
            if term != canonical:
                groups[canonical].append(term)
        try:
            SynonymTable(groups.values())
        except ValueError as exc:  # two terms that read the same once cleaned (ｆｕｌｌ-width …)
            ctx.error(rows[0][0] if rows else 2, "term", str(exc))


def _write_synonyms(
    ctx: ImportContext,
    stored: dict[str, tuple[int, str]],
    desired: dict[str, str],
    seen: _SynonymRows,
) -> None:
    """Count, then (unless a dry run) delete, update and insert the terms that differ, with
    an audit entry each."""
    session = ctx.session
    inserts = [(t, c) for t, c in desired.items() if t not in stored]
    updates = [(t, c) for t, c in desired.items() if t in stored and stored[t][1] != c]
    removals = [t for t in stored if t not in desired]
    ctx.report.created += len(inserts)
    ctx.report.updated += len(updates)
    ctx.report.removed += len(removals)
    ctx.report.unchanged += sum(
        1 for t, (_, c, r) in seen.items() if not r and t in stored and stored[t][1] == c
    )
    if ctx.dry_run:
        return
    entries = []
    for term in removals:
        id_, canonical = stored[term]
        session.execute(delete(SynonymTerm).where(SynonymTerm.id == id_))
        entries.append(
            audit_entry(ctx, "delete", "synonym_terms", term, {"canonical": canonical}, None)
        )
    for term, canonical in updates:
        id_, before = stored[term]
        session.execute(
            update(SynonymTerm).where(SynonymTerm.id == id_).values(canonical=canonical)
        )
        entries.append(
            audit_entry(
                ctx,
                "update",
                "synonym_terms",
                term,
                {"canonical": before},
                {"canonical": canonical},
            )
        )
    session.flush()
    # Groups in order, canonical first, so an export reads like the dictionary.
    order: dict[str, int] = {}
    for canonical in desired.values():
        order.setdefault(canonical, len(order))
    inserts.sort(key=lambda tc: (order[tc[1]], tc[0] != tc[1]))
    for chunk in chunks(inserts):
        session.execute(
            insert(SynonymTerm),
            [{"canonical": c, "term": t, "created_by": ctx.actor} for t, c in chunk],
        )
    entries += [
        audit_entry(ctx, "create", "synonym_terms", t, None, {"canonical": c}) for t, c in inserts
    ]
    audit.record_many(session, entries)
