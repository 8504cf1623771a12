"""The package reads one way down: every import of the package's own modules, at module level
or inside a function, goes to the same layer or a lower one, and no set of modules imports
each other in a cycle. The layering is written down once, here."""

import ast
from pathlib import Path

import edge_transfer

PACKAGE = Path(edge_transfer.__file__).parent

# Lowest first. A module's layer is that of its longest prefix named here.
LAYERS = [
    # infrastructure: no pipeline knowledge
    ("edge_transfer", "edge_transfer.errors", "edge_transfer.tolerances", "edge_transfer.fileio",
     "edge_transfer.interrupts", "edge_transfer.system", "edge_transfer.cores", "edge_transfer.metrics",
     "edge_transfer.thirdparty", "edge_transfer.onnx_io", "edge_transfer.plots", "edge_transfer.tables",
     "edge_transfer.formats", "edge_transfer.cluster"),
    # what a model, an image set and an engine are
    ("edge_transfer.backbones", "edge_transfer.data", "edge_transfer.engines", "edge_transfer.layers",
     "edge_transfer.validation"),
    # training, tickets and their files; the speed model (records and the solver, not the measuring)
    ("edge_transfer.train", "edge_transfer.ticket", "edge_transfer.checkpoint", "edge_transfer.batchnorm",
     "edge_transfer.speed", "edge_transfer.speed.record", "edge_transfer.speed.solve",
     "edge_transfer.speed.dense_peer"),
    # the stages that make models
    ("edge_transfer.export", "edge_transfer.pretrain", "edge_transfer.finetune"),
    ("edge_transfer.prune", "edge_transfer.quantize"),
    # the stages that measure and adapt them
    ("edge_transfer.bench",),
    ("edge_transfer.adapt", "edge_transfer.speed.profile", "edge_transfer.speed.peers", "edge_transfer.speed.report"),
    ("edge_transfer.deploy", "edge_transfer.study"),
    ("edge_transfer.demo",),
    ("edge_transfer.cli",),
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict) -> set[str]:
    """The package's own modules ``name`` imports anywhere in its file (a function's body
    included). Importing one's own enclosing package is not an edge: it is already loading."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
            found.update(submodules or [target])
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return {t for t in found if t in modules and t != name and t not in ancestors}


def _layer(name: str) -> int:
    while name not in LAYER_OF:
        assert "." in name, f"{name} has no layer: add it to LAYERS"
        name = name.rpartition(".")[0]
    return LAYER_OF[name]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_import_goes_to_the_same_layer_or_down():
    upward = sorted(f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
                    for a, targets in _graph().items() for b in targets if _layer(b) > _layer(a))
    assert not upward, "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_no_import_cycle():
    cycles = _cycles(_graph())
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checks_see_an_upward_import_and_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _layer("edge_transfer.prune.draw") < _layer("edge_transfer.bench.run") < _layer("edge_transfer.cli.main")
    graph = _graph()
    assert "edge_transfer.speed.record" in graph["edge_transfer.prune.draw"]  # function-level imports count


MAX_FUNCTION_LINES = 60  # an orchestrator longer than a screen no longer reads as its stage's story


def _long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    return [f"{n.name} ({n.end_lineno - n.lineno + 1} lines, line {n.lineno})" for n in ast.walk(ast.parse(source))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > limit]


def test_no_function_is_longer_than_a_screen():
    assert _long_functions("def short():\n    return 1\n") == []
    assert _long_functions("def long():\n" + "    x = 1\n" * MAX_FUNCTION_LINES) == ["long (61 lines, line 1)"]
    found = [f"{name}: {f}" for name, path in sorted(_modules().items()) for f in _long_functions(path.read_text())]
    assert not found, "\n".join(found)
