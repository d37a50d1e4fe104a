"""What an estimate's lines name: the parts and OE numbers `load_refs` reads, and the check of
the damaged components a part line names against its assembly's."""

from __future__ import annotations

from pricebook import review
from pricebook.errors import InvalidInput
from pricebook.matching.normalize import normalize_oe


def _named_parts(
    estimate: review.Estimate, matches: dict[int, review.MatchInfo]
) -> tuple[set[int], set[str]]:
    """The part ids and normalised OE numbers the lines name (matched custom names included)."""
    part_ids: set[int] = set()
    oes: set[str] = set()
    for line in estimate.lines:
        if isinstance(line, review.PartLine):
            if line.part_id:
                part_ids.add(line.part_id)
            if line.oe_number:
                oes.add(normalize_oe(line.oe_number))
            for named in line.damaged_components:
                if named.part_id is not None:
                    part_ids.add(named.part_id)
                else:
                    oes.add(normalize_oe(named.oe_number))
        elif isinstance(line, review.LaborLine) and line.part_id:
            part_ids.add(line.part_id)
    part_ids |= {m.part_id for m in matches.values() if m.part_id is not None}
    oes.discard("")
    return part_ids, oes


def _check_damaged_components(estimate: review.Estimate, refs: review.Refs) -> None:
    """A damaged component the catalogue has but that is not a component of the line's assembly
    is an error in the estimate (422 naming it). One the catalogue lacks is not: like an unknown
    part id on a line, it is passed through, and the assembly rule falls back to all components.
    A line whose own part is unknown cannot be checked."""
    for line in estimate.lines:
        if not isinstance(line, review.PartLine) or not line.damaged_components:
            continue
        assembly = review.identify(line, refs)[0]
        if assembly is None:
            continue
        named = review.damaged_components(line, assembly, refs)
        if named.not_components:
            j = named.not_components[0]
            name = line.damaged_components[j]
            pid = (
                name.part_id
                if name.part_id is not None
                else refs.oe_parts.get(normalize_oe(name.oe_number))
            )
            part = refs.parts.get(pid) if pid is not None else None
            what = f"part {part.code} {part.name}" if part else name.text()
            comps = refs.components.get(assembly.id, ())
            listed = ", ".join(refs.parts[c.part_id].code for c in comps if c.part_id in refs.parts)
            raise InvalidInput(
                f"line {line.index + 1}: {what} is not a component of {assembly.code} "
                f"{assembly.name}"
                + (f" (its components: {listed})" if listed else " (it has no components)"),
                field=f"lines[{line.index}].damaged_components[{j}]",
            )
