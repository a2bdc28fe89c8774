"""chuishao dlq: the dead letters (`deadletters` queue) — list, show, replay after a fix, drop."""
from __future__ import annotations

from contextlib import contextmanager

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from services.cli.failures import Invalid, Refused
from services.cli.output import emit_json, err, out, table
from services.cli.running import json_option, reporting
from services.cli.session import Session
from services.common.deadletters import DeadLetterQueue
from services.common.i18n import Text


@contextmanager
def opened(session: Session):
    queue = DeadLetterQueue(session.amqp_uri, session.namespace)
    try:
        yield queue
    finally:
        queue.close()


def build(t: Text) -> click.Group:
    @click.group(help=t.gettext("Operators: messages that kept failing, kept with the reason (死信)."))
    def dlq():
        pass

    @dlq.command("list", help=t.gettext("One line per dead letter."))
    @json_option(t)
    @click.pass_obj
    def list_(session: Session, as_json):
        with reporting(session, as_json=as_json), opened(session) as queue:
            letters = queue.list()
            if as_json:
                emit_json({"deadletters": letters})
                return
            out.print(table(t.ngettext("%(count)s dead letter", "%(count)s dead letters", len(letters))
                            % {"count": len(letters)},
                            [t.gettext("id"), t.gettext("dead-lettered at"), t.gettext("consumer"),
                             t.gettext("sent to"), t.gettext("attempts"), t.gettext("reason")],
                            [(d["id"], t.time(d["at"]), d["consumer"], f"{d['exchange']} {d['routing_key']}",
                              d["attempts"], (d["reason"] or "")[:200]) for d in letters], whole=(0,)))

    @dlq.command("show", help=t.gettext("One dead letter in full, with its body."))
    @click.argument("letter_id", metavar="ID")
    @click.pass_obj
    def show(session: Session, letter_id):
        with reporting(session), opened(session) as queue:
            found = [d for d in queue.list() if d["id"] == letter_id]
            if not found:
                raise Refused(t.gettext("no dead letter %(id)s") % {"id": letter_id})
            emit_json(found[0])

    @dlq.command("replay", help=t.gettext("Republish dead letters where they first went, after the fix."))
    @click.argument("ids", nargs=-1, metavar="[ID]...")
    @click.option("--all", "everything", is_flag=True, help=t.gettext("every dead letter"))
    @json_option(t)
    @click.pass_obj
    def replay(session: Session, ids, everything, as_json):
        with reporting(session, as_json=as_json):
            if not ids and not everything:
                raise Invalid(t.gettext("name the ids to replay, or --all"))
            progress = Progress(TextColumn(t.gettext("replaying")), BarColumn(), MofNCompleteColumn(), console=err,
                                transient=True)
            with opened(session) as queue, progress:
                bar = progress.add_task("replay", total=queue.count())
                done = queue.replay(None if everything else set(ids), each=lambda: progress.advance(bar))
            settled(t, {"replayed": done, "not_found": sorted(set(ids) - set(done))}, as_json,
                    t.ngettext("replayed %(count)s dead letter", "replayed %(count)s dead letters", len(done)))

    @dlq.command("drop", help=t.gettext("Delete dead letters for good."))
    @click.argument("ids", nargs=-1, required=True, metavar="ID...")
    @json_option(t)
    @click.pass_obj
    def drop(session: Session, ids, as_json):
        with reporting(session, as_json=as_json), opened(session) as queue:
            done = queue.drop(set(ids))
            settled(t, {"dropped": done, "not_found": sorted(set(ids) - set(done))}, as_json,
                    t.ngettext("dropped %(count)s dead letter", "dropped %(count)s dead letters", len(done)))

    return dlq


def settled(t: Text, result: dict, as_json: bool, done_text: str) -> None:
    """What a replay or a drop did; Refused (exit 1) if some ids named were not found."""
    count = len(next(iter(result.values())))
    if not as_json:
        out.print(done_text % {"count": count})
    if result["not_found"]:
        raise Refused(t.gettext("not found: %(ids)s") % {"ids": " ".join(result["not_found"])}, body=result)
    if as_json:
        emit_json(result)
