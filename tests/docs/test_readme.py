"""The README's promises that code can check."""
from pathlib import Path

from chalicelib.settings import markdown_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```", 2)[1]
    assert "make run" in first_block and "make test" in first_block


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert [line for line in ci.splitlines() if line and not line.startswith(("#", "set ", "cd "))] == ["make test"]


def test_settings_table_matches_the_code():
    table = README.split("<!-- settings-table:start -->\n", 1)[1].split("\n<!-- settings-table:end -->", 1)[0]
    assert table == markdown_table()
