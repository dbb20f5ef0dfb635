"""Each route in app.py names its handler function, and that function's row in the
operation table is for the same method and path (a route handing over the wrong
function would otherwise run another operation's checks and code)."""
from __future__ import annotations

import ast
from pathlib import Path

from chalicelib.api import ops as O


def _routes(app_py) -> list[tuple[str, str, str, object]]:
    """(method, path, view name, handler) for every ``return run(module.function)`` route."""
    out = []
    for fn in ast.parse(Path(app_py.__file__).read_text(encoding="utf-8")).body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        for dec in fn.decorator_list:
            if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "route"):
                continue
            path = dec.args[0].value
            methods = next(ast.literal_eval(k.value) for k in dec.keywords if k.arg == "methods")
            ret = fn.body[-1]
            if (isinstance(ret, ast.Return) and isinstance(ret.value, ast.Call)
                    and getattr(ret.value.func, "id", "") == "run"):
                target = ret.value.args[0]
                handler = getattr(getattr(app_py, target.value.id), target.attr)
                out.extend((m, path, fn.name, handler) for m in methods)
    return out


def test_every_route_runs_its_own_operation(app_module):
    routes = _routes(app_module)
    assert len(routes) == len(O.OPS)
    for method, path, view, handler in routes:
        op = O.BY_HANDLER[handler]
        assert (op.method, op.path) == (method, path), (view, op.id)
