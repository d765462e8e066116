"""A view never queries the ORM: it calls its area's selectors (reads) and services (writes).

Every view module (each app's views.py and every module of opsdash/web, the pages layer) is
parsed with ``ast``; the test fails on ``<anything>.objects``, on get_object_or_404 /
get_list_or_404, on queryset-building calls (``.filter(``, ``.order_by(``, ...) and on raw
SQL through ``django.db.connection``. Nothing is imported or run, so the rule holds even
for code no test reaches.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "opsdash"

SHORTCUTS = frozenset({"get_object_or_404", "get_list_or_404"})
# Queryset methods whose names nothing else in a view module uses. ``values``, ``get``,
# ``update``, ``count`` and the like are left out: dicts, forms and lists have them too.
QUERYSET_METHODS = frozenset(
    {
        "filter",
        "exclude",
        "order_by",
        "values_list",
        "annotate",
        "aggregate",
        "select_related",
        "prefetch_related",
        "only",
        "defer",
        "raw",
        "extra",
        "select_for_update",
        "bulk_create",
        "get_or_create",
        "update_or_create",
    }
)

# Justified exceptions: (module path relative to the repository, enclosing function, what)
# -> why it stays in the view. Keep it empty unless a selector truly cannot do the job.
EXCEPTIONS: dict[tuple[str, str, str], str] = {}


def view_modules() -> list[Path]:
    modules = sorted(PACKAGE.glob("*/views.py"))
    modules += sorted(p for p in (PACKAGE / "web").glob("*.py") if p.name != "__init__.py")
    return modules


class _Finder(ast.NodeVisitor):
    def __init__(self) -> None:
        self.scope: list[str] = []
        self.found: list[tuple[str, int, str]] = []  # (enclosing function, line, what)

    def _add(self, node: ast.AST, what: str) -> None:
        self.found.append((".".join(self.scope) or "<module>", getattr(node, "lineno", 0), what))

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr == "objects":
            self._add(node, ".objects")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in SHORTCUTS:
            self._add(node, f"{name}()")
        elif isinstance(func, ast.Attribute) and name in QUERYSET_METHODS:
            self._add(node, f".{name}()")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "django.db" and any(alias.name in ("connection", "connections") for alias in node.names):
            self._add(node, "django.db.connection")
        if node.module == "django.shortcuts" and any(alias.name in SHORTCUTS for alias in node.names):
            self._add(node, "import of " + ", ".join(a.name for a in node.names if a.name in SHORTCUTS))
        self.generic_visit(node)


def orm_uses(source: str) -> list[tuple[str, int, str]]:
    finder = _Finder()
    finder.visit(ast.parse(source))
    return finder.found


def test_there_are_view_modules_to_check():
    names = {str(p.relative_to(ROOT)) for p in view_modules()}
    assert {"opsdash/accounts/views.py", "opsdash/alerts/views.py", "opsdash/web/views.py"} <= names


@pytest.mark.parametrize("path", view_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_view_module_never_queries_the_orm(path: Path):
    module = str(path.relative_to(ROOT))
    found = [
        f"{module}:{line} in {where}: {what}"
        for where, line, what in orm_uses(path.read_text())
        if (module, where, what) not in EXCEPTIONS
    ]
    assert not found, (
        "Views read through their area's selectors.py and write through services.py "
        "(docs/architecture.md, 'A view never queries the ORM'):\n" + "\n".join(found)
    )


def test_every_exception_is_still_needed():
    present = {
        (str(path.relative_to(ROOT)), where, what)
        for path in view_modules()
        for where, _, what in orm_uses(path.read_text())
    }
    stale = [key for key in EXCEPTIONS if key not in present]
    assert not stale, f"remove these exceptions, the code no longer needs them: {stale}"


BAD_VIEW = """
from django.db import connection
from django.shortcuts import get_object_or_404, render

from opsdash.accounts.models import ApiToken


def page(request, token_id):
    token = get_object_or_404(ApiToken, pk=token_id)
    tokens = ApiToken.objects.all()
    live = selectors.tokens().filter(revoked_at=None).order_by("name")
    return render(request, "x.html", {"token": token, "tokens": tokens, "live": live})
"""


def test_the_check_catches_each_kind_of_orm_use():
    found = {(where, what) for where, _, what in orm_uses(BAD_VIEW)}
    assert found == {
        ("<module>", "django.db.connection"),
        ("<module>", "import of get_object_or_404"),
        ("page", "get_object_or_404()"),
        ("page", ".objects"),
        ("page", ".filter()"),
        ("page", ".order_by()"),
    }


def test_plain_python_in_a_view_is_not_flagged():
    source = (
        "def page(request):\n"
        "    rows = {'a': 1}\n"
        "    return sorted(rows.values()), rows.get('a'), list(filter(None, rows))\n"
    )
    assert orm_uses(source) == []
