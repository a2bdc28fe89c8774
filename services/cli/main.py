"""The `chuishao` entry point: choose the language, build the commands in it, run, end with an exit code."""
from __future__ import annotations

import os
import sys
from typing import Sequence

import click

from services.cli import assess, click_words, district, dlq, dept, street
from services.cli.failures import INTERRUPTED, OK, USAGE
from services.cli.output import err
from services.cli.session import Session
from services.common.i18n import LANGUAGES, Text, normalize


def language(argv: list[str], env) -> tuple[str | None, list[str], str | None]:
    """(language, argv without --lang, problem): --lang anywhere on the line, else CHUISHAO_LANG, else zh-CN."""
    rest, asked = [], None
    args = iter(argv)
    for arg in args:
        if arg == "--lang":
            asked = next(args, "")
        elif arg.startswith("--lang="):
            asked = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    wanted = asked if asked is not None else env.get("CHUISHAO_LANG") or "zh_CN"
    chosen = normalize(wanted)
    problem = None if chosen else f"--lang / CHUISHAO_LANG: {wanted!r} ({', '.join(LANGUAGES)})"
    return chosen, rest, problem


def build(text: Text) -> click.Group:
    t = text

    @click.group(help=t.gettext("街乡吹哨、部门报到: the command line for streets, departments, the district "
                                "and operators."),
                 epilog=t.gettext("Exit codes: 0 done; 1 refused (the fields are named); 2 usage or invalid "
                                  "input (nothing sent); 3 cannot reach the service or broker; 4 not "
                                  "authenticated or not allowed (CHUISHAO_TOKEN); 5 no answer in time "
                                  "(re-send with the same --request-id)."),
                 context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
    @click.option("--lang", type=click.Choice(LANGUAGES), expose_value=False,
                  help=t.gettext("language of what is printed (also CHUISHAO_LANG); zh_CN by default"))
    def chuishao():
        pass

    for group in (street.build(t), dept.build(t), district.build(t), dlq.build(t), assess.build(t)):
        chuishao.add_command(group)
    return chuishao


def main(argv: Sequence[str] | None = None) -> int:
    env = os.environ
    lang, args, problem = language(list(sys.argv[1:] if argv is None else argv), env)
    text = Text(lang or "zh_CN")
    click_words.install(text)
    if problem:
        err.print("✗ " + text.gettext("unsupported language %(problem)s") % {"problem": problem}, style="bold red")
        return USAGE
    cli = build(text)
    try:
        result = cli.main(args, prog_name="chuishao", standalone_mode=False, obj=Session(text))
    except click.exceptions.Abort:
        return INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return USAGE
    except KeyboardInterrupt:
        return INTERRUPTED
    return result if isinstance(result, int) else OK
