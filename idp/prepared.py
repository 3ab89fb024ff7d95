"""A queryset whose SQL the ORM builds once per thread, then run with new values each time.

Django builds a queryset's SQL every time the queryset runs. For the OP session joined with its
user, which every single sign-on reads, building it is about 0.3 ms of Python where SQLite
answers in 0.02 ms: more than half of what an SSO /authorize costs beyond the request's floor
(BENCHMARKS.md, section 9). `PreparedQuery` asks the ORM for the SQL once per database connection,
with a marker where each value goes, then runs that SQL with the values bound as parameters and
turns the rows into models as Django's ModelIterable does: the same converters (aware datetimes,
booleans) and the same `select_related` populators. The SQL stays the ORM's, so
it follows the models and their migrations; nothing here writes SQL by hand.

No library does this for Django, and the ORM has no public API for it: this leans on the
compiler's `select`, `klass_info` and `results_iter` and on `get_related_populators`, as Django 5.2
has them. tests/idp/test_prepared.py compares the result with the queryset's own on every
database the suite runs on, so an upgrade that changes them fails there first.
"""
from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, models, router
from django.db.models.query import QuerySet, get_related_populators
from django.db.models.sql.compiler import SQLCompiler

M = TypeVar("M", bound=models.Model)


def _marker(index: int) -> str:
    # Stands for a value while the ORM builds the SQL; never sent to the database.
    return f"\x00kunci-prepared-query-value-{index}\x00"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    positions: tuple[int, ...]  # of each value among `params`
    compiler: SQLCompiler
    init_list: list[str]
    model_fields: slice
    populators: list[Any]


class PreparedQuery(Generic[M]):
    """`build(*values)` returns the queryset for its string values, each used once in its filters.

    Each value must reach the SQL as it is, as an exact lookup passes it: a lookup that makes a
    parameter of its own from it (`startswith`, `iexact`) is refused when the SQL is built.

    The queryset runs on the database the router reads its model from (it must not choose one with
    `using()`). Each thread builds its own: a compiler holds the connection it was built for, and
    Django's connections belong to one thread each.
    """

    def __init__(self, build: Callable[..., QuerySet[M]]) -> None:
        self._build = build
        self._markers = [_marker(index) for index in range(len(inspect.signature(build).parameters))]
        self._model = build(*self._markers).model
        self._local = threading.local()

    def first(self, *values: str) -> M | None:
        """Return the first model the queryset for `values` yields, or None: one statement."""
        return next(iter(self._run(values, 1)), None)

    def all(self, *values: str) -> list[M]:
        """Return every model the queryset for `values` yields: one statement."""
        return self._run(values, None)

    def _run(self, values: tuple[str, ...], limit: int | None) -> list[M]:
        if len(values) != len(self._markers) or not all(isinstance(value, str) for value in values):
            raise TypeError(f"a prepared query takes {len(self._markers)} string values")
        alias = router.db_for_read(self._model)
        connection = connections[alias]
        built: dict[str, _Compiled] = self._local.__dict__.setdefault("built", {})
        compiled = built.get(alias)
        if compiled is None or compiled.compiler.connection is not connection:
            compiled = built[alias] = self._compile(alias)
        params = list(compiled.params)
        for position, value in zip(compiled.positions, values):
            params[position] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
        found = []
        for row in compiled.compiler.results_iter([rows]):
            instance = self._model.from_db(alias, compiled.init_list, row[compiled.model_fields])
            for populator in compiled.populators:
                populator.populate(row, instance)
            found.append(instance)
        return found

    def _compile(self, alias: str) -> _Compiled:
        compiler = self._build(*self._markers).query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        params = list(params)
        if any(params.count(marker) != 1 for marker in self._markers):
            raise ValueError("a prepared query must use each of its values exactly once")
        # As ModelIterable reads the compiler's select list (django/db/models/query.py).
        select, klass_info = compiler.select, compiler.klass_info
        first, last = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        return _Compiled(
            sql=sql, params=tuple(params), positions=tuple(params.index(marker) for marker in self._markers),
            compiler=compiler, init_list=[column[0].target.attname for column in select[first:last]],
            model_fields=slice(first, last), populators=get_related_populators(klass_info, select, alias),
        )
