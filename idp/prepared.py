"""A queryset whose SQL the ORM builds once per process, then run with a new value each time.

Django builds a queryset's SQL every time the queryset runs. For the OP session joined with its
user, which every single sign-on reads, building it is about 0.3 ms of Python where SQLite
answers in 0.02 ms: more than half of what an SSO /authorize costs beyond the request's floor
(BENCHMARKS.md, section 9). `PreparedQuery` asks the ORM for the SQL once per database (alias and
vendor), with a marker where the value goes, then runs that SQL with the value bound as a
parameter and turns the rows into models as Django's ModelIterable does: the same converters
(aware datetimes, booleans) and the same `select_related` populators. The SQL stays the ORM's, so
it follows the models and their migrations; nothing here writes SQL by hand.

No library does this for Django, and the ORM has no public API for it: this leans on the
compiler's `select`, `klass_info` and `results_iter` and on `get_related_populators`, as Django 5.2
has them. tests/idp/test_prepared.py compares the result with the queryset's own on every
database the suite runs on, so an upgrade that changes them fails there first.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, models, router
from django.db.models.query import QuerySet, get_related_populators
from django.db.models.sql.compiler import SQLCompiler

M = TypeVar("M", bound=models.Model)

# Stands for the value while the ORM builds the SQL; never sent to the database.
_MARKER = "\x00kunci-prepared-query-value\x00"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    position: int  # of the value among `params`
    compiler: SQLCompiler
    init_list: list[str]
    model_fields: slice
    populators: list[Any]


class PreparedQuery(Generic[M]):
    """`build(value)` returns the queryset for one string value, used once in its filters.

    The queryset runs on the database the router reads its model from (it must not choose one with
    `using()`). Each thread builds its own: a compiler holds the connection it was built for, and
    Django's connections belong to one thread each.
    """

    def __init__(self, build: Callable[[str], QuerySet[M]]) -> None:
        self._build = build
        self._model = build(_MARKER).model
        self._local = threading.local()

    def first(self, value: str) -> M | None:
        """Return the first model the queryset for `value` yields, or None: one statement."""
        if not isinstance(value, str):
            raise TypeError("a prepared query's value is a string")
        alias = router.db_for_read(self._model)
        connection = connections[alias]
        built: dict[str, _Compiled] = self._local.__dict__.setdefault("built", {})
        compiled = built.get(alias)
        if compiled is None or compiled.compiler.connection is not connection:
            compiled = built[alias] = self._compile(alias)
        params = list(compiled.params)
        params[compiled.position] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchmany(1)
        for row in compiled.compiler.results_iter([rows]):
            found = self._model.from_db(alias, compiled.init_list, row[compiled.model_fields])
            for populator in compiled.populators:
                populator.populate(row, found)
            return found
        return None

    def _compile(self, alias: str) -> _Compiled:
        compiler = self._build(_MARKER).query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        if list(params).count(_MARKER) != 1:
            raise ValueError("a prepared query must use its value exactly once")
        # As ModelIterable reads the compiler's select list (django/db/models/query.py).
        select, klass_info = compiler.select, compiler.klass_info
        first, last = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        return _Compiled(
            sql=sql, params=tuple(params), position=list(params).index(_MARKER), compiler=compiler,
            init_list=[column[0].target.attname for column in select[first:last]],
            model_fields=slice(first, last), populators=get_related_populators(klass_info, select, alias),
        )
