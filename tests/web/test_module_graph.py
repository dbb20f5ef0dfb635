"""The web app's ES modules import one way: no cycles (a cycle makes evaluation order,
and so which bindings are still uninitialised, depend on which module loads first)."""
from __future__ import annotations

import re
from pathlib import Path

JS = Path(__file__).resolve().parents[2] / "web" / "js"
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"]\./([\w.-]+\.js)['"]""", re.M)


def graph() -> dict[str, set[str]]:
    return {p.name: set(IMPORT.findall(p.read_text(encoding="utf-8"))) for p in JS.glob("*.js")}


def test_imports_name_existing_modules():
    g = graph()
    assert "api.js" in g and "auth.js" in g and "http.js" in g
    assert {dep for deps in g.values() for dep in deps} <= set(g)


def test_no_import_cycle():
    g = graph()
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, "import cycle: " + " -> ".join(path + (node,))
        if node in done:
            return
        for dep in sorted(g[node]):
            visit(dep, path + (node,))
        done.add(node)

    for name in sorted(g):
        visit(name, ())
    assert "auth.js" not in {d for d in g["http.js"]} and "api.js" not in g["auth.js"]
