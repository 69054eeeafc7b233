"""The package's rooms import one way: core <- tasks, training <- plotting / render <- bench / paper <- widgets, cli on top.

Imports are read from the source (every ``import`` statement, including those inside
functions), so a lazy import that makes a circle counts too.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ntm_widgets"

# Rank of each room: a module may import its own room and rooms of lower rank only.
RANKS = {
    "config": 0,
    "files": 0,
    "core": 1,
    "tasks": 1,
    "limits": 2,
    "training": 3,
    "trace": 4,
    "sweep": 4,
    "plotting": 5,
    "render": 5,
    "replay_html": 5,
    "bench": 6,
    "paper": 6,
    "shipped": 6,
    "tensorboard": 6,
    "widgets": 7,
    "cli": 8,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path):
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" for a in node.names] if not node.module else []
            else:
                target, names = node.module or "", []
            if target.startswith("ntm_widgets"):
                found.add(target)
                # "from . import limits" imports the module ntm_widgets.limits
                found.update(
                    n
                    for n in names
                    if (PACKAGE.parent / (n.replace(".", "/") + ".py")).exists()
                    or (PACKAGE.parent / n.replace(".", "/")).is_dir()
                )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ntm_widgets"))
    found.discard(name)
    return found


def graph():
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_core_imports_nothing_above_it():
    for module, deps in graph().items():
        if room(module) == "core":
            above = sorted(d for d in deps if room(d) not in ("core", "config", "files"))
            assert not above, f"{module} imports {above}"


def test_rooms_import_downwards_only():
    wrong = []
    for module, deps in graph().items():
        here = room(module)
        if here not in RANKS:
            continue  # the package's __init__ (lazy re-exports for users)
        for dep in deps:
            there = room(dep)
            if there and there != here and RANKS.get(there, 99) > RANKS[here]:
                wrong.append(f"{module} -> {dep}")
    assert not wrong, "imports pointing up:\n" + "\n".join(sorted(wrong))


def test_every_room_has_a_rank():
    rooms = {room(m) for m in graph()} - {""}
    assert rooms <= set(RANKS), f"give these rooms a rank: {sorted(rooms - set(RANKS))}"


def test_no_two_modules_import_each_other_even_through_others():
    g = graph()
    # Modules resolved to files: "ntm_widgets.core" (a package) stands for its __init__.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in g.get(v, ()):
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    # A package's __init__ re-exporting its own modules is not a circle between rooms.
    real = [c for c in cycles if not all(m == c[0] or m.startswith(c[0] + ".") for m in c)]
    assert not real, f"import circles: {real}"


@pytest.mark.parametrize("module", ["ntm_widgets.core", "ntm_widgets.training", "ntm_widgets.cli"])
def test_graph_sees_known_edges(module):
    # The reader must see real imports, or the tests above pass vacuously.
    assert graph()[module]
