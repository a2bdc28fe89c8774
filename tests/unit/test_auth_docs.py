"""The README's "Who may do what" shows the rule table the code enforces."""
from pathlib import Path

from services.common.auth.rules import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_carries_the_rule_table_as_enforced():
    assert markdown_table() in README.read_text(encoding="utf-8"), (
        "regenerate the table: python -c "
        "'from services.common.auth.rules import markdown_table; print(markdown_table())'")

