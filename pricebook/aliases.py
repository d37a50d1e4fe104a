"""Staff edits of the names adjusters type: part aliases (左前叶 for 左前翼子板) and the colloquial
synonym dictionary (叶子板 → 翼子板) the matcher reads.

Neither is history with validity periods: an alias or a term is there or it is not. Every change
is still audited (who, when, before, after, why) in the caller's transaction, moves the
catalogue version (matching indexes rebuild in every process), and carries the ETag of what it
changes — a part's alias set, or one synonym group — so an edit based on a stale view gets
StaleVersion (412). Synonym edits go through the `synonyms` import, so a single edit and a file
follow one set of rules (the first edit of an empty table starts from the shipped dictionary).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from pricebook import audit
from pricebook.errors import Conflict, ImportRejected, InvalidInput, NotFound
from pricebook.models import Part, PartAlias
from pricebook.versioned import ETagLike, check_etag, lock_key, require_reason

#: longest alias or term (characters), as for imports.
MAX_TERM = 50


def _etag(parts: list[str]) -> str:
    return '"' + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20] + '"'


def _clean(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > MAX_TERM or any(c in value for c in "\t\r\n\x00"):
        raise InvalidInput(f"{field}: at most {MAX_TERM} characters, one line", field=field)
    return value


# --- part aliases -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AliasSet:
    part_id: int
    aliases: list[str]
    etag: str
    #: what the write did: added | removed | unchanged ('' for a read)
    action: str = ""


def part_aliases(session: Session, part_id: int) -> AliasSet:
    if session.get(Part, part_id) is None:
        raise NotFound(f"no part with id {part_id}", field="part_id")
    rows = session.execute(
        select(PartAlias.id, PartAlias.alias).where(PartAlias.part_id == part_id)
    ).all()
    return AliasSet(
        part_id,
        sorted(alias for _, alias in rows),
        _etag([f"{i}:{a}" for i, a in sorted(rows)]),
    )


def add_alias(
    session: Session,
    part_id: int,
    alias: str,
    *,
    actor: str,
    reason: str,
    expected_etag: ETagLike = None,
) -> AliasSet:
    reason, current = _aliases_to_edit(session, part_id, actor, reason, expected_etag)
    alias = _clean(alias, "alias")
    if alias in current.aliases:
        return AliasSet(current.part_id, current.aliases, current.etag, "unchanged")
    new_id = session.execute(
        insert(PartAlias).values(part_id=part_id, alias=alias).returning(PartAlias.id)
    ).scalar_one()
    return _alias_changed(session, "added", new_id, part_id, alias, actor=actor, reason=reason)


def remove_alias(
    session: Session,
    part_id: int,
    alias: str,
    *,
    actor: str,
    reason: str,
    expected_etag: ETagLike = None,
) -> AliasSet:
    reason, _ = _aliases_to_edit(session, part_id, actor, reason, expected_etag)
    row_id = session.scalar(
        select(PartAlias.id).where(PartAlias.part_id == part_id, PartAlias.alias == alias)
    )
    if row_id is None:
        raise NotFound(f"part {part_id} has no alias {alias!r}", field="alias")
    session.execute(delete(PartAlias).where(PartAlias.id == row_id))
    return _alias_changed(session, "removed", row_id, part_id, alias, actor=actor, reason=reason)


def _aliases_to_edit(
    session: Session, part_id: int, actor: str, reason: str, expected_etag: ETagLike
) -> tuple[str, AliasSet]:
    """The start of every alias edit: the reason checked, the part's aliases locked and the
    caller's ETag checked against them."""
    reason = require_reason(reason, actor)
    lock_key(session, "part_aliases", part_id)
    current = part_aliases(session, part_id)
    check_etag(current.etag, expected_etag, "the part's aliases")
    return reason, current


def _alias_changed(
    session: Session,
    outcome: str,
    row_id: int,
    part_id: int,
    alias: str,
    *,
    actor: str,
    reason: str,
) -> AliasSet:
    """An alias added or removed: audited, the catalogue version bumped (match indexes reload),
    answered with the part's aliases as they are now."""
    row = {"part_id": part_id, "alias": alias}
    added = outcome == "added"
    audit.record(
        session,
        actor=actor,
        action="create" if added else "delete",
        entity="part_aliases",
        entity_id=row_id,
        before=None if added else row,
        after=row if added else None,
        reason=reason,
    )
    audit.bump_catalog_version(session, actor=actor, reason=f"alias {alias} of part {part_id}")
    after = part_aliases(session, part_id)
    return AliasSet(after.part_id, after.aliases, after.etag, outcome)


# --- the synonym dictionary ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SynonymGroup:
    canonical: str
    #: canonical first, then the other terms in the order they were added
    terms: list[str]
    #: database, or shipped while the table is empty (the first edit stores the shipped terms)
    source: str
    etag: str
    action: str = ""


def synonym_group(session: Session, canonical: str) -> SynonymGroup:
    """One group of the dictionary; an unknown canonical word is an empty group (add to it to
    start a new one)."""
    from pricebook.matching.loader import load_synonym_groups

    groups, source = load_synonym_groups(session)
    terms = next((g for g in groups if g and g[0] == canonical), [])
    return SynonymGroup(canonical, list(terms), source, _etag([source, *terms]))


@dataclass(frozen=True, slots=True)
class SynonymDictionary:
    groups: list[SynonymGroup]
    #: database, or shipped while the table is empty
    source: str
    #: the ETag of a group not in the dictionary (what a form starting one expects)
    new_group_etag: str


def synonym_dictionary(session: Session) -> SynonymDictionary:
    """The whole dictionary, each group with the ETag `synonym_group` gives it (what a page
    listing the groups carries into its forms). One statement."""
    from pricebook.matching.loader import load_synonym_groups

    groups, source = load_synonym_groups(session)
    found = [SynonymGroup(g[0], list(g), source, _etag([source, *g])) for g in groups if g]
    return SynonymDictionary(found, source, _etag([source]))


def _synonym_import(
    session: Session, canonical: str, term: str, *, remove: bool, actor: str, reason: str
) -> None:
    from pricebook.io.importers import import_rows

    row = {"canonical": canonical, "term": term, "remove": "1" if remove else ""}
    try:
        import_rows(session, "synonyms", [row], actor=actor, reason=reason, source_ref="api")
    except ImportRejected as exc:
        first = exc.errors[0]
        raise InvalidInput(first.message, field=first.column) from exc


def add_synonym(
    session: Session,
    canonical: str,
    term: str,
    *,
    actor: str,
    reason: str,
    expected_etag: ETagLike = None,
) -> SynonymGroup:
    """Add `term` to the group of `canonical` (a new group when there is none). A term of
    another group is a Conflict: remove it there first, so no group changes unseen."""
    from pricebook.matching.loader import load_synonym_groups

    reason = require_reason(reason, actor)
    canonical, term = _clean(canonical, "canonical"), _clean(term, "term")
    lock_key(session, "synonym_terms")
    current = synonym_group(session, canonical)
    check_etag(current.etag, expected_etag, f"the synonym group of {canonical}")
    if term in current.terms:
        return SynonymGroup(canonical, current.terms, current.source, current.etag, "unchanged")
    groups, _ = load_synonym_groups(session)
    other = next((g[0] for g in groups if term in g), None)
    if other is not None:
        raise Conflict(
            f"{term!r} is in the group of {other!r}: remove it there first", field="term"
        )
    _synonym_import(session, canonical, term, remove=False, actor=actor, reason=reason)
    after = synonym_group(session, canonical)
    return SynonymGroup(canonical, after.terms, after.source, after.etag, "added")


def remove_synonym(
    session: Session,
    canonical: str,
    term: str,
    *,
    actor: str,
    reason: str,
    expected_etag: ETagLike = None,
) -> SynonymGroup:
    """Take `term` out of the group of `canonical` (the canonical word itself goes last)."""
    reason = require_reason(reason, actor)
    lock_key(session, "synonym_terms")
    current = synonym_group(session, canonical)
    check_etag(current.etag, expected_etag, f"the synonym group of {canonical}")
    if term not in current.terms:
        raise NotFound(f"{term!r} is not in the group of {canonical!r}", field="term")
    _synonym_import(session, canonical, term, remove=True, actor=actor, reason=reason)
    after = synonym_group(session, canonical)
    return SynonymGroup(canonical, after.terms, after.source, after.etag, "removed")
