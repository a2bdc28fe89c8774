"""click's own words (Usage, Options, Missing option...) in the reader's language, from our catalog.

click looks up every word it prints with `gettext`/`ngettext` imported into each of its modules;
`install(text)` points those names at our catalog. The message ids below are click's, listed so
that extraction puts them in the catalog (tests/unit/test_catalogs.py checks click still uses each).
"""
from __future__ import annotations

import click.core
import click.decorators
import click.exceptions
import click.formatting
import click.parser
import click.types

from services.common.i18n import N_, Text


def ngettext(singular: str, plural: str) -> tuple[str, str]:
    """Marks one of click's plural messages for extraction (Babel knows calls by this name)."""
    return singular, plural


WORDS = (
    N_("Usage:"), N_("Options"), N_("Commands"), N_("Positional arguments"), N_("Show this message and exit."),
    N_("Missing command."), N_("env var: {var}"), N_("default: {default}"), N_("required"), N_("Aborted!"),
    N_("Error: {message}"), N_("Try '{command} {option}' for help."), N_("Invalid value: {message}"),
    N_("Invalid value for {param_hint}: {message}"), N_("Missing argument"), N_("Missing option"),
    N_("Missing parameter"), N_("No such option {name!r}."), N_("No such command {name!r}."),
    N_("{value!r} is not a valid {number_type}."), N_("{value} is not in the range {range}."),
    N_("Option {name!r} does not take a value."),
)
PLURAL_WORDS = (
    ngettext("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"),
    ngettext("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"),
    ngettext("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."),
    ngettext("{value!r} is not {choice}.", "{value!r} is not one of {choices}."),
)
MODULES = (click.core, click.decorators, click.exceptions, click.formatting, click.parser, click.types)


def install(text: Text) -> None:
    for module in MODULES:
        if hasattr(module, "_"):
            module._ = text.gettext
        if hasattr(module, "ngettext"):
            module.ngettext = text.ngettext
