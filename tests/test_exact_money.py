"""Invariant 1, checked statically: no float holds money in the schema or the code."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MONEY = re.compile(r"price|qty|quantity|amount|balance|notional|fee|commission|free|locked|quote|volume", re.I)
CODE_DIRS = ("chalicelib", "matcher", "devstack")


def python_files():
    for d in CODE_DIRS:
        yield from (ROOT / d).rglob("*.py")
    yield ROOT / "app.py"


def test_schema_has_no_floating_point_columns():
    for sql in (ROOT / "chalicelib" / "migrations").glob("*.sql"):
        code = "\n".join(line.split("--")[0] for line in sql.read_text().splitlines())
        assert not re.search(r"\b(real|double precision|float[48]?|money)\b", code, re.I), sql.name


def test_no_float_conversion_of_money_and_no_decimal_from_float():
    offenders = []
    for path in python_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id == "float" and node.args and MONEY.search(ast.unparse(node.args[0])):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
            if node.func.id == "Decimal" and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, float):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "\n".join(offenders)


def test_json_parsing_of_amounts_keeps_decimals():
    """Where the code parses JSON that may carry amounts, floats become Decimal."""
    offenders = []
    for path in python_files():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "loads"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "json"
                    and not any(k.arg == "parse_float" for k in node.keywords)
                    and MONEY.search(lines[node.lineno - 1])):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not offenders, "\n".join(offenders)
