"""Set-based, race-free upserts: one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement.

The same SQL runs on SQLite (>= 3.35) and PostgreSQL. A row is written only when it is new or its
version (the platform's ``updated_at``) is not older than the stored one, so a replayed or
out-of-order webhook can never roll data back, and two workers writing the same row at once
cannot interleave a check and a write (there is no separate check). Returns the rows applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, models, router

# Keep each statement under SQLite's and PostgreSQL's bound-parameter limits.
_MAX_PARAMS = 20_000


def upsert_rows(
    model: type[models.Model],
    rows: Iterable[Mapping[str, Any]],
    *,
    unique: Sequence[str],
    update: Sequence[str],
    version: str | None = None,
) -> dict[tuple, int]:
    """Insert or update ``rows`` (dicts keyed by attname: ``store_id``, ``external_id``...).

    ``unique`` names the fields of a unique constraint (store first). ``update`` names the fields
    written when the row exists. With ``version``, an existing row is updated only when its stored
    version is NULL or <= the incoming one. Missing fields take their model defaults on insert.
    Returns ``{unique values tuple: pk}`` for every row inserted or updated (skipped stale rows are
    absent). Duplicate keys within ``rows`` keep the highest version (else the last).
    """
    meta = model._meta
    by_name = {f.attname: f for f in meta.concrete_fields}
    unknown = {*unique, *update, *([version] if version else [])} - by_name.keys()
    if unknown:
        raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")

    deduped: dict[tuple, Mapping[str, Any]] = {}
    for row in rows:
        key = tuple(row[name] for name in unique)
        previous = deduped.get(key)
        if (previous is None or version is None or previous[version] is None
                or (row[version] is not None and row[version] >= previous[version])):
            deduped[key] = row
    if not deduped:
        return {}

    fields = [f for f in meta.concrete_fields if not f.primary_key]
    db = router.db_for_write(model)
    connection = connections[db]
    qn = connection.ops.quote_name
    table = qn(meta.db_table)
    columns = ", ".join(qn(f.column) for f in fields)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    conflict = ", ".join(qn(by_name[n].column) for n in unique)
    assignments = ", ".join(
        f"{qn(by_name[n].column)} = excluded.{qn(by_name[n].column)}" for n in update
    )
    where = ""
    if version:
        vcol = qn(by_name[version].column)
        where = f" WHERE {table}.{vcol} IS NULL OR {table}.{vcol} <= excluded.{vcol}"
    returning = ", ".join([qn(meta.pk.column), *(qn(by_name[n].column) for n in unique)])

    applied: dict[tuple, int] = {}
    items = list(deduped.values())
    per_statement = max(1, _MAX_PARAMS // len(fields))
    with connection.cursor() as cursor:
        for start in range(0, len(items), per_statement):
            batch = items[start:start + per_statement]
            params: list[Any] = []
            for row in batch:
                for f in fields:
                    value = row[f.attname] if f.attname in row else f.get_default()
                    params.append(f.get_db_prep_save(value, connection))
            # Identifiers come from model metadata and are quoted; every value is a parameter.
            values = ", ".join([placeholders] * len(batch))
            sql = (
                f"INSERT INTO {table} ({columns}) VALUES {values}"  # noqa: S608
                f" ON CONFLICT ({conflict}) DO UPDATE SET {assignments}{where}"
                f" RETURNING {returning}"
            )
            cursor.execute(sql, params)
            for pk, *key in cursor.fetchall():
                applied[tuple(key)] = pk
    return applied


@dataclass(frozen=True, slots=True)
class UpsertResult:
    received: int
    applied: int  # inserted or updated (rows newer than or as new as what we had)

    @property
    def skipped(self) -> int:
        """Stale rows (older than what we had) and duplicates within the batch."""
        return self.received - self.applied
