"""BD tables per class of sequences, as CTC tables are (class A1, A2, B, ...): the classes
come from a field of the dataset's manifest (``category = "fire"``), stored with each row."""

from __future__ import annotations

from ..bench.records import JobResult
from ..errors import GvcbenchError


def sequence_classes(rows: list[JobResult], field: str) -> dict[str, str]:
    """sequence -> its value of the manifest field ``field``."""
    classes: dict[str, str] = {}
    fields: dict[str, set[str]] = {}  # sequence -> the manifest fields stored with it
    for row in rows:
        if row.get("imported"):
            continue
        meta = (row.get("sequence_spec") or {}).get("meta") or {}
        fields.setdefault(row["sequence"], set()).update(meta)
        if field in meta:
            classes[row["sequence"]] = str(meta[field])
    lacking = set(fields) - set(classes)
    if lacking:
        theirs = set().union(*(fields[s] for s in lacking))
        if theirs:
            have = f"their manifest fields: {', '.join(sorted(theirs))}"
        elif classes:
            have = (
                f"no manifest fields were stored with them, while {', '.join(sorted(classes))} "
                f"{'has' if len(classes) == 1 else 'have'} one (the run stores the fields the manifest gives each clip)"
            )
        else:
            have = (
                "no manifest fields were stored with them (a dataset read through a manifest keeps its clips' fields)"
            )
        raise GvcbenchError(f"--group-by {field}: sequence(s) {', '.join(sorted(lacking))} have no {field!r}; {have}")
    return classes


def rows_by_class(rows: list[JobResult], field: str) -> dict[str, list[JobResult]]:
    """The rows of each class; imported rows join the class of their sequence name, if any."""
    classes = sequence_classes(rows, field)
    groups: dict[str, list[JobResult]] = {}
    for row in rows:
        value = classes.get(row["sequence"])
        if value is not None:
            groups.setdefault(value, []).append(row)
    return dict(sorted(groups.items()))
