"""The shape of the tree, checked by walking its syntax: no import loops, no climbing imports,
small modules, HTTP kept out of services and transactions kept out of blueprints.

Each rule is a plain function over the parsed source, so a failure names the file and line.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The application's own code; tests, benchmarks and migrations may import anything.
PACKAGES = ("blueprints", "services", "models")
TOP_MODULES = ("app", "cli", "config", "extensions")
MAX_LINES = 400

@dataclass(frozen=True)
class Import:
    importer: str      # dotted module name of the file
    target: str        # dotted module name imported (a project module)
    names: tuple[str, ...]
    line: int
    nested: bool       # inside a function body
    commented: bool    # a comment on the line or the line above says why


def project_files() -> dict[str, Path]:
    """Dotted module name → file, for every module of the application."""
    files = {name: ROOT / f"{name}.py" for name in TOP_MODULES if (ROOT / f"{name}.py").exists()}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            files[name] = path
    return files


def _resolve(module: str, known: set[str]) -> str | None:
    """The project module an import names (the longest known prefix), or None for a library."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    found: list[Import] = []

    def commented(line: int) -> bool:
        """A comment on the import's line, or just above the block of imports it belongs to."""
        if "#" in lines[line - 1]:
            return True
        above = line - 2
        while above >= 0 and lines[above].strip().startswith(("import ", "from ")):
            above -= 1
        return above >= 0 and lines[above].strip().startswith("#")

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    target = _resolve(alias.name, known)
                    found.append(Import(name, target or alias.name, (), child.lineno, nested, commented(child.lineno)))
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                # `from services import clock` imports the module services.clock.
                for alias in child.names:
                    sub = _resolve(f"{child.module}.{alias.name}", known)
                    target = sub if sub and sub != _resolve(child.module, known) else _resolve(child.module, known)
                    found.append(Import(name, target or child.module, (alias.name,), child.lineno, nested,
                                        commented(child.lineno)))
            visit(child, inner)

    visit(tree, False)
    return found


def all_imports() -> list[Import]:
    files = project_files()
    known = set(files)
    return [imp for name, path in files.items() for imp in imports_of(name, path, known)]


def import_cycles(imports: list[Import], known: set[str]) -> list[list[str]]:
    """Every strongly connected group of modules (Tarjan), as sorted lists; a loop of one counts too."""
    graph: dict[str, set[str]] = {name: set() for name in known}
    for imp in imports:
        if imp.target in known and imp.target != imp.importer:
            graph[imp.importer].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return groups


def _is_package_of(importer: str, target: str) -> bool:
    # A package's __init__ importing its own modules (models/__init__ re-exporting) is how packages work.
    return target.startswith(importer + ".")


def test_no_import_cycles_among_the_apps_modules():
    files = project_files()
    imports = [i for i in all_imports() if not _is_package_of(i.importer, i.target)]
    assert import_cycles(imports, set(files)) == []


def test_nothing_but_the_wsgi_entry_point_imports_app():
    climbing = [f"{i.importer}:{i.line}" for i in all_imports() if i.target == "app"]
    assert climbing == []


def test_function_local_imports_say_why():
    """An import inside a function hides a dependency; it stays only with a comment giving the reason."""
    silent = sorted({f"{i.importer} -> {i.target}" for i in all_imports() if i.nested and not i.commented})
    assert silent == []


@pytest.mark.parametrize("package", ["blueprints", "services"])
def test_no_module_has_more_than_one_job_worth_of_lines(package):
    long = {str(path.relative_to(ROOT)): n for path in sorted((ROOT / package).rglob("*.py"))
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def _names_used(tree: ast.AST) -> set[tuple[str, str]]:
    """(module, name) pairs a file imports with `from module import name`, and `flask.x` attribute uses."""
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            used |= {(node.module, alias.name) for alias in node.names}
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "flask":
            used.add(("flask", node.attr))
    return used


def test_services_never_read_the_http_request():
    """Services are called from pages, the API, the worker and the CLI alike: the request is the blueprint's."""
    request_state = {("flask", "request"), ("flask", "g"), ("flask", "session")}
    offenders = [str(path.relative_to(ROOT)) for path in sorted((ROOT / "services").rglob("*.py"))
                 if request_state & _names_used(ast.parse(path.read_text()))]
    # One exception: services/languages.py keeps the catalog beside Flask-Babel's own state on `g`, which every
    # app context has (the worker's and the CLI's too), and it answers without one. It reads nothing of a request.
    assert offenders == ["services/languages.py"]
    assert _names_used(ast.parse((ROOT / "services/languages.py").read_text())) & request_state == {("flask", "g")}


def test_blueprints_never_commit():
    """A use case in services/ owns its transaction and commits once; a view only calls it."""
    commits = []
    for path in sorted((ROOT / "blueprints").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit":
                commits.append(str(path.relative_to(ROOT)))
    assert sorted(set(commits)) == []


def test_the_checker_sees_a_cycle_when_there_is_one():
    """The cycle finder is worth nothing if it can't see a loop: a made-up one must be found."""
    made_up = [Import("a", "b", (), 1, False, False), Import("b", "c", (), 1, True, False),
               Import("c", "a", (), 1, False, False), Import("c", "d", (), 1, False, False)]
    assert import_cycles(made_up, {"a", "b", "c", "d"}) == [["a", "b", "c"]]
