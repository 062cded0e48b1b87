"""``peaktrade state migrate --to URL``: copy an SQLite state store into an empty
PostgreSQL database, table by table, then check that nothing was lost (the same number of
rows in every table; the caller verifies every run-log chain on the copy)."""

from __future__ import annotations

from collections.abc import Callable

from attrs import frozen

from peaktrade_core.store.base import StateError, StateStore

PAGE = 5_000


@frozen
class TableDefinition:
    """One table or index of a store, as its backend reports it (see ``table_definitions``)."""

    kind: str  # "table" or "index"
    name: str
    table: str
    sql: str


def copy_state(source: StateStore, target: StateStore, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every table of ``source`` into ``target``, which must hold no rows. The tables
    are created from the source's own definitions, so a plugin's tables move too. Returns
    the rows copied per table; raises :class:`StateError` if a count differs after."""
    definitions = source.table_definitions()
    existing = target.table_names()
    for table in existing & {d.table for d in definitions}:
        if table != "schema_versions" and target.query(f"SELECT count(*) FROM {table}")[0][0]:
            raise StateError(f"{target.location} is not empty (table {table} has rows): migrate into an empty database")
    with target.transaction(key="schema") as conn:
        for d in definitions:
            if d.name not in existing:
                target._run_ddl(conn, d.sql)
        if "schema_versions" in existing:
            conn.execute("DELETE FROM schema_versions")
    copied = {d.table: _copy_table(source, target, d.table, progress) for d in definitions if d.kind == "table"}
    for table, n in copied.items():
        found = target.query(f"SELECT count(*) FROM {table}")[0][0]
        if found != n:
            raise StateError(f"{target.location}: table {table} has {found} rows after the copy, the source {n}")
    return copied


def _copy_table(source: StateStore, target: StateStore, table: str, progress: Callable[[str, int], None] | None) -> int:
    names = ", ".join(source.column_order(table))
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(source.column_order(table)))})"
    n = 0
    with target.transaction(key="schema") as conn:
        for page in source.pages(f"SELECT {names} FROM {table}", PAGE):
            conn.executemany(insert, page)
            n += len(page)
            if progress is not None:
                progress(table, n)
        target.after_copy(conn, table)
    return n
