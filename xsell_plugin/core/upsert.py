"""Set-based, race-free upserts: one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement.

The same SQL runs on SQLite (>= 3.35) and PostgreSQL. A row is written only when it is new or its
version (the platform's ``updated_at``) is not older than the stored one, so a replayed or
out-of-order webhook can never roll data back, and two workers writing the same row at once
cannot interleave a check and a write (there is no separate check). Returns the rows applied.

Backfills write millions of rows through here (docs/performance.md), so the per-value work is
kept small: the SQL of a model/shape is built once per process, and values of the plain field
classes (text, integers, decimals, aware datetimes, booleans) skip Django's field layers and go
straight to the backend's adapter; anything else (JSON, encrypted fields, expressions, naive
datetimes) takes ``Field.get_db_prep_save`` as before. Rows whose applied keys nobody reads
(``returning=False``) go through ``executemany`` of one prepared statement.
"""

from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, models, router

# Keep each statement under SQLite's and PostgreSQL's bound-parameter limits.
_MAX_PARAMS = 20_000
# Rows per executemany call (one prepared statement, no RETURNING).
_MANY_ROWS = 5_000

_TEXT = (models.CharField, models.TextField, models.EmailField, models.SlugField, models.URLField)
_INTEGER = (models.IntegerField, models.BigIntegerField, models.SmallIntegerField,
            models.PositiveIntegerField, models.PositiveBigIntegerField,
            models.PositiveSmallIntegerField, models.AutoField, models.BigAutoField,
            models.SmallAutoField)


def _converter(field: models.Field, connection) -> Callable[[Any], Any]:
    """``field.get_db_prep_save(value, connection)``, without its layers for plain values.

    Only Django's own field classes (exact types, so a subclass such as an encrypted field keeps
    its own conversion) get a fast path, and only for the Python types they would store
    unchanged; every other value falls back to Django.
    """
    slow = field.get_db_prep_save
    kind = type(field)
    if kind in (models.ForeignKey, models.OneToOneField):
        target = field.target_field
        kind = type(target)
        if kind not in _INTEGER:
            return lambda value: slow(value, connection)
    if kind in _TEXT:
        def text(value):
            return value if value is None or type(value) is str else slow(value, connection)
        return text
    if kind in _INTEGER:
        def integer(value):
            return value if value is None or type(value) is int else slow(value, connection)
        return integer
    if kind is models.BooleanField:
        def boolean(value):
            return value if value is None or type(value) is bool else slow(value, connection)
        return boolean
    if kind is models.DecimalField:
        adapt_decimal = connection.ops.adapt_decimalfield_value
        digits, places = field.max_digits, field.decimal_places

        def number(value):
            if value is None:
                return None
            if type(value) is decimal.Decimal and value.is_finite():
                return adapt_decimal(value, digits, places)
            return slow(value, connection)
        return number
    if kind is models.DateTimeField:
        adapt_datetime = connection.ops.adapt_datetimefield_value
        if connection.vendor == "sqlite" and settings.USE_TZ:
            # What SQLite's adapt_datetimefield_value does to an aware datetime, inlined.
            zone = connection.timezone

            def adapt_datetime(value):
                return str(value.astimezone(zone).replace(tzinfo=None))

        def moment(value):
            if value is None:
                return None
            if type(value) is _dt.datetime and value.tzinfo is not None:
                return adapt_datetime(value)
            return slow(value, connection)  # naive (warns, made aware) or a date
        return moment
    return lambda value: slow(value, connection)


@dataclass(frozen=True, slots=True)
class _Plan:
    fields: tuple[models.Field, ...]
    attnames: tuple[str, ...]
    converters: tuple[Callable[[Any], Any], ...]
    defaults: tuple[Any, ...]  # _Static(value), or a callable default (called once per call)
    head: str  # INSERT INTO t (columns) VALUES
    row: str  # (%s, %s, ...)
    conflict: str  # ON CONFLICT ... DO UPDATE SET ... [WHERE ...]
    returning: str


_PLANS: dict[tuple, _Plan] = {}


@dataclass(frozen=True, slots=True)
class _Static:
    value: Any


def _plan(model: type[models.Model], connection, unique: Sequence[str], update: Sequence[str],
          version: str | None) -> _Plan:
    key = (model, connection.alias, connection.vendor, tuple(unique), tuple(update), version)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    meta = model._meta
    by_name = {f.attname: f for f in meta.concrete_fields}
    unknown = {*unique, *update, *([version] if version else [])} - by_name.keys()
    if unknown:
        raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")
    fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
    qn = connection.ops.quote_name
    table = qn(meta.db_table)
    assignments = ", ".join(
        f"{qn(by_name[n].column)} = excluded.{qn(by_name[n].column)}" for n in update
    )
    where = ""
    if version:
        vcol = qn(by_name[version].column)
        where = f" WHERE {table}.{vcol} IS NULL OR {table}.{vcol} <= excluded.{vcol}"
    # A static default (or the field's empty value) is computed once; a callable one per call.
    defaults = [f.default if f.has_default() and callable(f.default) else _Static(f.get_default())
                for f in fields]
    plan = _Plan(
        fields=fields,
        attnames=tuple(f.attname for f in fields),
        converters=tuple(_converter(f, connection) for f in fields),
        defaults=tuple(defaults),
        # Identifiers come from model metadata and are quoted; every value is a parameter.
        head=f"INSERT INTO {table} ({', '.join(qn(f.column) for f in fields)}) VALUES ",  # noqa: S608
        row="(" + ", ".join(["%s"] * len(fields)) + ")",
        conflict=f" ON CONFLICT ({', '.join(qn(by_name[n].column) for n in unique)})"
                 f" DO UPDATE SET {assignments}{where}",
        returning=" RETURNING " + ", ".join([qn(meta.pk.column), *(qn(by_name[n].column) for n in unique)]),
    )
    _PLANS[key] = plan
    return plan


def upsert_rows(
    model: type[models.Model],
    rows: Iterable[Mapping[str, Any]],
    *,
    unique: Sequence[str],
    update: Sequence[str],
    version: str | None = None,
    returning: bool = True,
) -> dict[tuple, int]:
    """Insert or update ``rows`` (dicts keyed by attname: ``store_id``, ``external_id``...).

    ``unique`` names the fields of a unique constraint (store first). ``update`` names the fields
    written when the row exists. With ``version``, an existing row is updated only when its stored
    version is NULL or <= the incoming one. Missing fields take their model defaults on insert
    (a callable default is called once per call). Returns ``{unique values tuple: pk}`` for every
    row inserted or updated (skipped stale rows are absent); with ``returning=False`` nothing is
    read back and ``{}`` is returned. Duplicate keys within ``rows`` keep the highest version
    (else the last).
    """
    db = router.db_for_write(model)
    connection = connections[db]
    plan = _plan(model, connection, unique, update, version)

    deduped: dict[tuple, Mapping[str, Any]] = {}
    if version is None:
        for row in rows:
            deduped[tuple([row[name] for name in unique])] = row
    else:
        for row in rows:
            key = tuple([row[name] for name in unique])
            previous = deduped.get(key)
            if (previous is None or previous[version] is None
                    or (row[version] is not None and row[version] >= previous[version])):
                deduped[key] = row
    if not deduped:
        return {}

    values = _values(plan, deduped.values())
    applied: dict[tuple, int] = {}
    with connection.cursor() as cursor:
        if not returning:
            sql = plan.head + plan.row + plan.conflict
            for start in range(0, len(values), _MANY_ROWS):
                cursor.executemany(sql, values[start:start + _MANY_ROWS])
            return applied
        per_statement = max(1, _MAX_PARAMS // len(plan.fields))
        for start in range(0, len(values), per_statement):
            batch = values[start:start + per_statement]
            sql = plan.head + ", ".join([plan.row] * len(batch)) + plan.conflict + plan.returning
            cursor.execute(sql, [value for row in batch for value in row])
            for pk, *key in cursor.fetchall():
                applied[tuple(key)] = pk
    return applied


def insert_rows(model: type[models.Model], rows: Sequence[Mapping[str, Any]], *,
                ignore_conflicts: Sequence[str] = ()) -> None:
    """Plain ``INSERT`` of rows the caller knows are new (no ``DO UPDATE``: on SQLite with
    foreign keys an upsert costs about twice as much). A row that exists after all raises
    ``IntegrityError``, so the caller's transaction rolls back; it is never silently merged.
    With ``ignore_conflicts`` (the fields of a unique constraint), an existing row is left as it
    is instead (``ON CONFLICT DO NOTHING``)."""
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    plan = _plan(model, connection, (), (), None)
    sql = plan.head + plan.row
    if ignore_conflicts:
        qn = connection.ops.quote_name
        columns = ", ".join(qn(model._meta.get_field(n).column) for n in ignore_conflicts)
        sql += f" ON CONFLICT ({columns}) DO NOTHING"
    values = _values(plan, rows)
    with connection.cursor() as cursor:
        for start in range(0, len(values), _MANY_ROWS):
            cursor.executemany(sql, values[start:start + _MANY_ROWS])


_MISSING = object()


def _values(plan: _Plan, rows: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    """Each row's parameters in column order, converted; missing fields take their default.

    Datetimes repeat a lot within a batch (``now``, an order's time on each of its lines), so
    their conversion is memoised by object identity for the duration of the call; ``rows`` is
    held in a list meanwhile, so no value is freed and its id reused."""
    rows = list(rows)
    memo: dict[int, Any] = {}

    def memoised(convert):
        def cached(value):
            key = id(value)
            converted = memo.get(key, _MISSING)
            if converted is _MISSING:
                converted = memo[key] = convert(value)
            return converted
        return cached

    columns = []
    for name, field, convert, default in zip(plan.attnames, plan.fields, plan.converters,
                                             plan.defaults, strict=True):
        if type(field) is models.DateTimeField:
            convert = memoised(convert)
        columns.append((name, convert, default.value if type(default) is _Static else default()))
    return [[convert(row.get(name, default)) for name, convert, default in columns]
            for row in rows]


def rows_where_in(model: type[models.Model], *, store_id: int, field: str, values: Iterable[Any],
                  columns: Sequence[str], chunk: int = 2_000) -> list[tuple]:
    """``columns`` (attnames) of the store's rows whose ``field`` is one of ``values`` (falsy
    values skipped): one indexed ``SELECT`` per chunk, raw values (no ORM conversion), without
    the ORM's per-value work on the ``IN`` list. For ids, keys and plain text columns."""
    wanted = list({v for v in values if v})
    if not wanted:
        return []
    meta = model._meta
    connection = connections[router.db_for_read(model)]
    qn = connection.ops.quote_name
    column = qn(meta.get_field(field).column)
    store_column = qn(meta.get_field("store").column)
    selected = ", ".join(qn(meta.get_field(c).column) if c != "pk" else qn(meta.pk.column)
                         for c in columns)
    found: list[tuple] = []
    with connection.cursor() as cursor:
        for start in range(0, len(wanted), chunk):
            part = wanted[start:start + chunk]
            cursor.execute(
                f"SELECT {selected} FROM {qn(meta.db_table)}"  # noqa: S608 (quoted identifiers)
                f" WHERE {store_column} = %s AND {column} IN ({', '.join(['%s'] * len(part))})",
                [store_id, *part])
            found += cursor.fetchall()
    return found


def ids_by_key(model: type[models.Model], *, store_id: int, field: str,
               values: Iterable[Any]) -> dict[Any, int]:
    """``{value: pk}`` of the store's rows whose ``field`` (a unique key) is one of ``values``."""
    return dict(rows_where_in(model, store_id=store_id, field=field, values=values,
                              columns=(field, "pk")))


@dataclass(frozen=True, slots=True)
class UpsertResult:
    received: int
    applied: int  # inserted or updated (rows newer than or as new as what we had)

    @property
    def skipped(self) -> int:
        """Stale rows (older than what we had) and duplicates within the batch."""
        return self.received - self.applied
