"""What the command line prints: rich tables for people on stdout, JSON for scripts, failures on stderr."""
from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Mapping, Sequence

from rich.console import Console
from rich.table import Table

from services.cli.failures import Failure, Refused
from services.common.field_errors import explain, field_label
from services.common.i18n import Text
from services.common.vocabulary import Names

# markup off: text from people ("[紧急]…") is printed as it is, never read as rich markup; a line of text is
# never broken (tables still fit the terminal)
out = Console(markup=False, highlight=False, emoji=False, soft_wrap=True)
err = Console(stderr=True, markup=False, highlight=False, emoji=False, soft_wrap=True)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          whole: Sequence[int] = ()) -> Table:
    """A table; the columns numbered in `whole` (ids people copy) are never wrapped."""
    shown = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    for index, column in enumerate(columns):
        shown.add_column(column, overflow="fold", no_wrap=index in whole)
    for row in rows:
        shown.add_row(*("" if cell is None else str(cell) for cell in row))
    return shown


def fields(rows: Iterable[tuple[str, Any]]) -> Table:
    """A record as label: value lines."""
    shown = Table.grid(padding=(0, 2))
    shown.add_column(style="bold")
    shown.add_column(overflow="fold")
    for label, value in rows:
        shown.add_row(label, "" if value is None else str(value))
    return shown


def headline(failure: Failure, text: Text, names: Names) -> str:
    t = text
    status = failure.body.get("status") if isinstance(failure, Refused) else None
    said = {404: t.gettext("not found"), 409: t.gettext("not allowed now"),
            422: t.gettext("refused: the request is not valid")}.get(status)
    if said and failure.errors:
        return said
    detail = explain("", failure.message, text, names)
    return t.gettext("%(headline)s: %(detail)s") % {"headline": said, "detail": detail} if said else detail


def show_failure(failure: Failure, text: Text, names: Names, options: Mapping[str, str] | None = None,
                 as_json: bool = False) -> None:
    """The failure on stderr, each field error beside the option it concerns; its body on stdout for --json."""
    if as_json:
        emit_json(failure.body)
    err.print("✗ " + headline(failure, text, names), style="bold red")
    if failure.errors:
        rows = Table.grid(padding=(0, 2))
        for _ in range(3):
            rows.add_column(overflow="fold")
        for error in failure.errors:
            rows.add_row("  " + (options or {}).get(_leaf(error.field), ""), field_label(error.field, text),
                         explain(error.field, error.message, text, names))
        err.print(rows)
    if failure.hint:
        err.print("  → " + failure.hint)


def _leaf(field_path: str) -> str:
    return ".".join(p for p in field_path.split(".") if not p.isdigit())
