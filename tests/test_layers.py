"""The layers of the project and the imports allowed between them (issue 15; docs/architecture.md).

Every .py module of studentperf/, modelstore/ and predictions/ is parsed with `ast` (nothing is imported), and
every import statement in it counts: at the top, inside functions, under `if TYPE_CHECKING:`. Relative
imports are resolved to absolute names, and `from package import name` counts as importing
`package.name` when that is a module or package on disk, else as importing `package`. Dotted paths in strings
(settings, `importlib.import_module`) are not imports.

The rules, from the bottom up:

1. studentperf/ is the ground floor (settings, urls, Celery app, errors, bulk inserts, threads, health and
   readiness, the API base, metrics, observability, the proxy): every app builds on it, so it imports no app,
   not even inside a function or for type checking. It reaches an app's pieces through dotted paths in
   settings. That way it can be loaded, tested and reused without the apps, and it cannot form a cycle with
   them.
2. modelstore/ (model versions) sits below predictions/: predictions are served with a model version, while
   a model version knows nothing of the predictions made with it.
3. The core of predictions (models, validation, services, selectors, and access/: roles, API keys,
   authentication, permissions, throttling) is what the features and the delivery build on. It imports no
   feature (predictions.batches, predictions.monitoring, predictions.whatif, predictions.shadow) and no
   delivery (predictions.views, predictions.api, any `views` or `apis` module), so it can be read, tested and
   changed without them.
4. predictions.batches and predictions.monitoring are siblings: neither imports the other, so either can
   change, or go, alone. What both need belongs in the core.
5. No import cycles among the project's own modules (migrations and tests left out): a cycle makes import
   order matter (errors about partially initialised modules) and makes the layers above meaningless. The
   one exception is the usual Celery pattern: predictions.tasks imports the services it runs at the top, and
   a service of predictions queues its task through an import of predictions.tasks inside a function, which
   runs at call time, when both modules are loaded. Those function-level imports of predictions.tasks are
   left out of the graph; every other edge counts.

An edge goes to the named module only (importing `a.b.c` also runs `a` and `a.b`'s __init__, which is not
counted). The checker takes a root directory, so the meta-tests at the end run it over small trees written to
tmp_path and prove it catches each kind of breach.
"""
from __future__ import annotations

import ast
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APPS = ("studentperf", "modelstore", "predictions")

CORE = (
    "predictions.models",
    "predictions.validation",
    "predictions.services",
    "predictions.selectors",
    "predictions.access",
)
FEATURES_AND_DELIVERY = (
    "predictions.batches", "predictions.monitoring", "predictions.whatif", "predictions.shadow", "predictions.views",
    "predictions.api",
)
DELIVERY_MODULE_NAMES = ("views", "apis")
TASKS = "predictions.tasks"
LEFT_OUT_OF_CYCLES = ("migrations", "tests")


# --- Reading the imports ---


@dataclass(frozen=True)
class Import:
    importer: str  # dotted name of the importing module
    path: str  # its file, relative to the root
    line: int
    imported: str  # absolute dotted name of the imported module
    in_function: bool

    def __str__(self) -> str:
        return f"{self.path}:{self.line} → {self.imported}"


def within(module: str, *packages: str) -> bool:
    """Whether `module` is one of `packages` or inside one of them."""
    return any(module == package or module.startswith(package + ".") for package in packages)


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every .py module of the apps under `root`."""
    return {
        module_name(root, path): path
        for app in APPS
        for path in sorted((root / app).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def relative_base(importer: str, is_package: bool, level: int, module: str | None, where: str) -> str:
    """The absolute name of `from <level dots><module> import ...` written in `importer`."""
    package = importer if is_package else importer.rpartition(".")[0]
    parts = package.split(".")
    if level - 1 >= len(parts):
        raise ValueError(f"{where}: relative import goes above the top-level package")
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base


class ImportCollector(ast.NodeVisitor):
    """Every import statement of one module, with its resolved names and whether it sits in a function."""

    def __init__(self, root: Path, path: Path, known: Iterable[str]) -> None:
        self.importer = module_name(root, path)
        self.is_package = path.name == "__init__.py"
        self.path = path.relative_to(root).as_posix()
        self.known = set(known)
        self.function_depth = 0
        self.imports: list[Import] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.function_depth += 1
        self.generic_visit(node)
        self.function_depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = relative_base(self.importer, self.is_package, node.level, node.module, f"{self.path}:{node.lineno}")
        else:
            base = node.module or ""
        targets = (f"{base}.{alias.name}" for alias in node.names)
        for imported in dict.fromkeys(target if target in self.known else base for target in targets):
            self.add(node, imported)  # once per module and statement: `from a import B, C` imports a once

    def add(self, node: ast.stmt, imported: str) -> None:
        self.imports.append(Import(self.importer, self.path, node.lineno, imported, self.function_depth > 0))


def module_imports(root: Path, path: Path, known: Iterable[str]) -> list[Import]:
    collector = ImportCollector(root, path, known)
    collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return collector.imports


def project_imports(root: Path) -> list[Import]:
    modules = project_modules(root)
    return [found for path in modules.values() for found in module_imports(root, path, modules)]


# --- Rules 1 to 4: who may import what ---


@dataclass(frozen=True)
class Rule:
    code: str
    text: str
    applies_to: Callable[[str], bool]  # the importing module
    forbids: Callable[[str], bool]  # the imported module


@dataclass(frozen=True)
class Breach:
    rule: Rule
    found: Import

    def __str__(self) -> str:
        return f"{self.found}  [rule {self.rule.code}: {self.rule.text}]"


def is_core(module: str) -> bool:
    return within(module, *CORE)


def is_feature_or_delivery(module: str) -> bool:
    if within(module, *FEATURES_AND_DELIVERY):
        return True
    return within(module, "predictions") and module.rpartition(".")[2] in DELIVERY_MODULE_NAMES


def is_ground_floor(module: str) -> bool:
    return within(module, "studentperf")


def is_an_app(module: str) -> bool:
    return within(module, "predictions", "modelstore")


def is_modelstore(module: str) -> bool:
    return within(module, "modelstore")


def is_predictions(module: str) -> bool:
    return within(module, "predictions")


def is_batches(module: str) -> bool:
    return within(module, "predictions.batches")


def is_monitoring(module: str) -> bool:
    return within(module, "predictions.monitoring")


GROUND_FLOOR = Rule("1", "the ground floor (studentperf) imports no app", is_ground_floor, is_an_app)
MODELSTORE = Rule("2", "modelstore imports nothing of predictions", is_modelstore, is_predictions)
THE_CORE = Rule(
    "3", "the core of predictions imports no feature (batches, monitoring) and no views/api", is_core,
    is_feature_or_delivery,
)
BATCHES = Rule("4", "predictions.batches imports nothing of predictions.monitoring", is_batches, is_monitoring)
MONITORING = Rule("4", "predictions.monitoring imports nothing of predictions.batches", is_monitoring, is_batches)
RULES = (GROUND_FLOOR, MODELSTORE, THE_CORE, BATCHES, MONITORING)


def breaches(imports: Iterable[Import], rules: Iterable[Rule] = RULES) -> list[Breach]:
    return [
        Breach(rule, found)
        for found in imports
        for rule in rules
        if rule.applies_to(found.importer) and rule.forbids(found.imported)
    ]


# --- Rule 5: no import cycles ---


def counts_for_cycles(found: Import) -> bool:
    """Every import counts, except the Celery pattern: predictions queuing a task through a function-level
    import of predictions.tasks."""
    return not (found.in_function and found.imported == TASKS and within(found.importer, "predictions"))


def graph_module(imported: str, nodes: set[str]) -> str | None:
    """The module of the graph an import reaches: the imported module, or its nearest package on disk."""
    while imported and imported not in nodes:
        imported = imported.rpartition(".")[0]
    return imported or None


def import_graph(root: Path) -> tuple[dict[str, set[str]], list[Import]]:
    """The project's own modules (no migrations, no tests) and the imports between them that count for
    cycles; also those imports, for the report."""
    nodes = {
        name for name in project_modules(root) if not any(part in LEFT_OUT_OF_CYCLES for part in name.split("."))
    }
    graph: dict[str, set[str]] = {node: set() for node in nodes}
    edges = []
    for found in project_imports(root):
        target = graph_module(found.imported, nodes)
        if found.importer in nodes and target and counts_for_cycles(found):
            graph[found.importer].add(target)
            edges.append(found)
    return graph, edges


def strongly_connected_components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit); each component sorted."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def enter(node: str) -> tuple[str, Iterable[str]]:
        index[node] = lowlink[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        return node, iter(sorted(graph.get(node, ())))

    for start in sorted(graph):
        if start in index:
            continue
        work = [enter(start)]
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    work.append(enter(successor))
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[node])
                if lowlink[node] == index[node]:
                    component = []
                    while not component or component[-1] != node:
                        component.append(stack.pop())
                        on_stack.discard(component[-1])
                    components.append(sorted(component))
    return components


@dataclass(frozen=True)
class Cycle:
    members: tuple[str, ...]
    imports: tuple[Import, ...]  # the imports between the members: one of them has to go

    def __str__(self) -> str:
        lines = [f"cycle of {len(self.members)}: {', '.join(self.members)}"]
        lines += [f"    {found}" for found in self.imports]
        return "\n".join(lines)


def import_cycles(root: Path) -> list[Cycle]:
    graph, edges = import_graph(root)
    nodes = set(graph)
    cycles = []
    for component in strongly_connected_components(graph):
        if len(component) == 1 and component[0] not in graph[component[0]]:
            continue
        members = set(component)
        inside = [
            found for found in edges
            if found.importer in members and graph_module(found.imported, nodes) in members
        ]
        cycles.append(Cycle(tuple(component), tuple(sorted(inside, key=lambda f: (f.path, f.line)))))
    return cycles


# --- Reporting ---


def fail_if_any(found: list, heading: str) -> None:
    if found:
        pytest.fail(f"{heading} ({len(found)}):\n" + "\n".join(str(each) for each in found), pytrace=False)


def rule_breaches(root: Path, *rules: Rule) -> list[Breach]:
    return breaches(project_imports(root), rules)


# --- The project ---


def test_the_scan_reads_every_app():
    modules = project_modules(PROJECT_ROOT)
    for app in APPS:
        assert app in modules, f"{app}/__init__.py not found under {PROJECT_ROOT}"
    assert any(found.imported.startswith("django") for found in project_imports(PROJECT_ROOT))


def test_the_ground_floor_imports_no_app():
    fail_if_any(rule_breaches(PROJECT_ROOT, GROUND_FLOOR), "studentperf/ imports an app")


def test_modelstore_imports_nothing_of_predictions():
    fail_if_any(rule_breaches(PROJECT_ROOT, MODELSTORE), "modelstore/ imports predictions")


def test_the_core_of_predictions_imports_no_feature_and_no_views():
    fail_if_any(rule_breaches(PROJECT_ROOT, THE_CORE), "the core of predictions imports a feature or a view")


def test_batches_and_monitoring_do_not_import_each_other():
    fail_if_any(rule_breaches(PROJECT_ROOT, BATCHES, MONITORING), "batches and monitoring import each other")


def test_the_project_has_no_import_cycles():
    fail_if_any(import_cycles(PROJECT_ROOT), "import cycles among the project's modules")


# --- Meta-tests: the checks catch what they should, and only that ---


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    """The files (dedented), and an empty __init__.py in every package that has none."""
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    for relative in files:
        for package in Path(relative).parents:
            init = root / package / "__init__.py"
            if package != Path(".") and not init.exists():
                init.write_text("", encoding="utf-8")
    return root


@pytest.fixture
def synthetic_tree(tmp_path) -> Path:
    return write_tree(tmp_path, {
        # rule 1: inside a function, and for type checking only
        "studentperf/x.py": """\
            def f():
                from predictions import models
                from predictions.models import Prediction, Student
            """,
        "studentperf/y.py": """\
            from typing import TYPE_CHECKING

            from studentperf import x

            if TYPE_CHECKING:
                from modelstore.models import ModelVersion
            """,
        # rule 2
        "modelstore/models.py": "",
        "modelstore/selectors.py": "import predictions.models\n",
        # rule 3: directly, through a relative import, and an `apis` module anywhere
        "predictions/models.py": "from modelstore.models import ModelVersion\n",
        "predictions/validation.py": "",
        "predictions/views.py": "from .services import predict\n",
        "predictions/selectors.py": "from predictions import views\n",
        "predictions/services.py": """\
            from .models import Prediction
            from .validation import record_clean
            """,
        "predictions/access/roles.py": """\
            from ..api import serializers
            from .apis import key_api
            """,
        "predictions/access/apis.py": "",
        "predictions/api/serializers.py": "from predictions.models import Prediction\n",
        # the Celery pattern, allowed: tasks imports the services at the top, they queue through a function
        "predictions/tasks.py": """\
            from predictions.batches import services
            from predictions.monitoring import accuracy
            """,
        "predictions/batches/services.py": """\
            from ..monitoring import alerts

            def queue():
                from ..tasks import process
            """,
        # ... but not at the top
        "predictions/monitoring/accuracy.py": "from predictions.tasks import accuracy_check_run\n",
        # rule 4, the other way, for type checking only
        "predictions/monitoring/alerts.py": """\
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                from predictions.batches.results import BatchResult
            """,
        "predictions/batches/results.py": "",
        # a cycle of two modules at the top
        "predictions/forms.py": "from .widgets import GradeInput\n",
        "predictions/widgets.py": "from predictions.forms import choice_text\n",
        # migrations are left out of cycles
        "predictions/migrations/0001_initial.py": "from predictions.migrations import helpers\n",
        "predictions/migrations/helpers.py": "from . import steps\n",
        "predictions/migrations/steps.py": "from . import helpers\n",
    })


def reported(found: Iterable[Breach]) -> set[tuple[str, str, int, str]]:
    return {(breach.rule.code, breach.found.path, breach.found.line, breach.found.imported) for breach in found}


def test_relative_imports_resolve_to_absolute_names():
    assert relative_base("predictions.api.urls", False, 1, None, "") == "predictions.api"
    assert relative_base("predictions.api", True, 1, "views", "") == "predictions.api.views"
    assert relative_base("predictions.templatetags.text", False, 2, "forms", "") == "predictions.forms"
    with pytest.raises(ValueError, match="above the top-level package"):
        relative_base("predictions.forms", False, 3, None, "predictions/forms.py:1")


def test_from_package_import_name_counts_the_module_only_when_it_is_on_disk(synthetic_tree):
    imports = {(found.path, found.line): found.imported for found in project_imports(synthetic_tree)}
    assert imports["predictions/selectors.py", 1] == "predictions.views"  # a module
    assert imports["predictions/access/roles.py", 1] == "predictions.api.serializers"  # relative, a module
    assert imports["studentperf/x.py", 2] == "predictions.models"  # function-level
    assert imports["predictions/models.py", 1] == "modelstore.models"  # ModelVersion is a name, not a module
    assert [found.line for found in project_imports(synthetic_tree) if found.path == "studentperf/x.py"] == [2, 3]


def test_the_checks_report_each_breach_of_a_rule(synthetic_tree):
    assert reported(breaches(project_imports(synthetic_tree))) == {
        ("1", "studentperf/x.py", 2, "predictions.models"),
        ("1", "studentperf/x.py", 3, "predictions.models"),
        ("1", "studentperf/y.py", 6, "modelstore.models"),
        ("2", "modelstore/selectors.py", 1, "predictions.models"),
        ("3", "predictions/selectors.py", 1, "predictions.views"),
        ("3", "predictions/access/roles.py", 1, "predictions.api.serializers"),
        ("3", "predictions/access/roles.py", 2, "predictions.access.apis"),
        ("4", "predictions/batches/services.py", 1, "predictions.monitoring.alerts"),
        ("4", "predictions/monitoring/alerts.py", 4, "predictions.batches.results"),
    }


def test_a_breach_names_the_file_the_line_the_module_and_the_rule(synthetic_tree):
    messages = [str(breach) for breach in rule_breaches(synthetic_tree, GROUND_FLOOR)]
    expected = "studentperf/x.py:2 → predictions.models  [rule 1: the ground floor (studentperf) imports no app]"
    assert expected in messages


def test_the_cycle_check_reports_top_level_cycles_but_allows_queuing_a_task_from_a_function(synthetic_tree):
    cycles = import_cycles(synthetic_tree)
    assert [cycle.members for cycle in cycles] == [
        ("predictions.forms", "predictions.widgets"),
        ("predictions.monitoring.accuracy", "predictions.tasks"),
    ]
    # the batches services queue their task from a function: no cycle with predictions.tasks
    assert all("predictions.batches.services" not in cycle.members for cycle in cycles)
    assert str(cycles[0]) == (
        "cycle of 2: predictions.forms, predictions.widgets\n"
        "    predictions/forms.py:1 → predictions.widgets\n"
        "    predictions/widgets.py:1 → predictions.forms"
    )


def test_only_predictions_may_reach_the_tasks_from_a_function_in_a_cycle(tmp_path):
    root = write_tree(tmp_path, {
        "predictions/tasks.py": "from modelstore import services\n",
        "modelstore/services.py": """\
            def queue():
                from predictions.tasks import train
            """,
        "studentperf/__init__.py": "",
    })
    assert [cycle.members for cycle in import_cycles(root)] == [("modelstore.services", "predictions.tasks")]


def test_the_cycle_check_reports_a_module_importing_itself(tmp_path):
    root = write_tree(tmp_path, {"modelstore/keys.py": "def f():\n    import modelstore.keys\n"})
    assert [cycle.members for cycle in import_cycles(root)] == [("modelstore.keys",)]


def test_strongly_connected_components_finds_cycles_of_any_length():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e", "a"}}
    components = sorted(strongly_connected_components(graph))
    assert components == [["a", "b", "c"], ["d"], ["e"]]


def test_the_checks_pass_on_a_tree_that_keeps_the_rules(tmp_path):
    root = write_tree(tmp_path, {
        "studentperf/errors.py": "",
        "modelstore/selectors.py": "from studentperf.errors import ApplicationError\n",
        "predictions/models.py": "from modelstore import selectors\n",
        "predictions/services.py": """\
            from .models import Prediction

            def queue():
                from .tasks import predict
            """,
        "predictions/tasks.py": "from predictions import services\n",
        "predictions/batches/views.py": "from predictions.services import queue\n",
        "predictions/monitoring/views.py": "from ..models import Prediction\n",
    })
    assert breaches(project_imports(root)) == []
    assert import_cycles(root) == []
