"""The project's shape: the engine a student opens first stays short, and imports go one way.

The import graph is read from the source with ``ast`` (every ``import``, at the top of a module or
inside a function), so a late import cannot hide a circle.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "tinygrad_lite" / "core.py"
CORE_BUDGET = 500        # lines: DeZero's core.py is 348; Tensor, Function and backward fit in this
FLOORS = ("tinygrad_lite", "nn", "experiments", "benchmarks")     # each may import only the ones before it


def test_the_engine_stays_one_file_a_student_can_read_first():
    lines = len(CORE.read_text(encoding="utf-8").splitlines())
    assert lines <= CORE_BUDGET, (f"tinygrad_lite/core.py has {lines} lines, over its budget of {CORE_BUDGET}: "
                                  f"move what is not Tensor, Function or backward into a module of its own")


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules():
    return {_module_name(path): path for package in FLOORS for path in (ROOT / package).rglob("*.py")}


def _imports(name, source, known, is_package=False):
    """The project modules (of ``known``) that module ``name`` imports, anywhere in its ``source``."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:       # import a.b.c: the deepest project module named
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph():
    modules = _modules()
    return {name: _imports(name, path.read_text(encoding="utf-8"), modules, path.name == "__init__.py")
            for name, path in modules.items()}


def _cycle(graph, nodes):
    """One import circle among ``nodes`` as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in nodes:
                continue
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(nodes):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_circle():
    graph = _graph()
    assert len(graph) > 80                      # the walk found the packages
    cycle = _cycle(graph, set(graph))
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_import_upward():
    """The engine imports no layer, the layers no experiment, nothing a benchmark (``tinygrad-lite
    bench`` starts ``python -m benchmarks`` as a process of its own)."""
    graph = _graph()
    assert any(name.startswith("benchmarks.") for name in graph) and "experiments.cli" in graph
    for name, targets in graph.items():
        floor = FLOORS.index(name.split(".")[0])
        upward = sorted(t for t in targets if FLOORS.index(t.split(".")[0]) > floor)
        assert not upward, f"{name} imports {upward}, a floor above it"


def test_the_graph_reader_sees_late_and_relative_imports():
    graph = _graph()
    assert "tinygrad_lite.core" in graph["tinygrad_lite.ops.elementwise"]         # from ..core import
    assert "tinygrad_lite.ops.shape" in graph["tinygrad_lite.ops.indexing"]        # from .shape import
    assert "tinygrad_lite" in graph["nn.functional.activations"]                 # import tinygrad_lite as tl
    late = "import numpy\n\ndef f():\n    from ..core import Tensor\n    import nn.functional.conv\n"
    known = {"tinygrad_lite.core", "nn", "nn.functional", "nn.functional.conv"}
    assert _imports("tinygrad_lite.ops.probe", late, known) == {"tinygrad_lite.core", "nn.functional.conv"}


def _subclasses(cls):
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return {c for c in found if c.__module__.split(".")[0] in ("tinygrad_lite", "nn")}


def test_ops_are_named_op_and_share_no_name_with_a_layer():
    """``ReLUOp`` (the graph's op) beside ``nn.ReLU`` (the layer): a name says which one it is."""
    import nn
    from tinygrad_lite.core import Function
    ops = _subclasses(Function)
    layers = _subclasses(nn.Module)
    assert len(ops) > 60 and len(layers) > 30
    assert sorted(op.__name__ for op in ops if not op.__name__.endswith("Op")) == []
    assert {op.__name__ for op in ops} & {layer.__name__ for layer in layers} == set()


def test_the_public_api_has_type_hints():
    """Tensor and Function (core.py), Module, the optimisers and schedules, and every op a Tensor method:
    each public method annotates its return and its arguments (the ops: the tensor they take)."""
    import inspect
    import typing

    import nn
    import tinygrad_lite as tl
    from tinygrad_lite.ops import methods
    classes = [tl.Tensor, tl.Function, nn.Module, nn.Sequential, nn.Parameter, nn.optim.Optimizer, nn.optim.SGD,
               nn.optim.Adam, nn.optim.AdamW, nn.optim.RMSprop, nn.optim.Adagrad, nn.optim.Muon, nn.optim.LRScheduler,
               nn.optim.StepLR, nn.optim.ExponentialLR, nn.optim.InverseTimeDecay, nn.optim.WarmupCosineLR]
    missing = []
    for cls in classes:
        for name, member in vars(cls).items():
            function = member.fget if isinstance(member, property) else member
            if not inspect.isfunction(function) or (name.startswith("_") and name != "__init__"):
                continue
            signature = inspect.signature(function)
            typing.get_type_hints(function)            # every name in the hints resolves
            unannotated = [p.name for p in list(signature.parameters.values())[1:] if p.annotation is p.empty]
            if unannotated or (name != "__init__" and signature.return_annotation is signature.empty):
                missing.append(f"{cls.__name__}.{name}")
    for function in methods.METHODS:
        typing.get_type_hints(function)
        signature = inspect.signature(function)
        first = next(iter(signature.parameters.values()))
        if first.annotation is first.empty or signature.return_annotation is signature.empty:
            missing.append(f"ops {function.__name__}")
    assert missing == []


def test_the_readme_s_reading_order_counts_lines_truly():
    """README's "Read it in an afternoon" gives each file's length: it must stay within 10% of the truth."""
    import re
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Read it in an afternoon"):]
    rows = re.findall(r"^\| \d \| `([^`]+)` \| (\d+) \|", section, re.M)
    assert [path for path, _ in rows][0] == "tinygrad_lite/core.py" and len(rows) == 5
    for path, stated in rows:
        actual = len((ROOT / path).read_text(encoding="utf-8").splitlines())
        assert abs(actual - int(stated)) <= 0.1 * actual, f"README says {path} has {stated} lines, it has {actual}"
