"""The whistle service's entrypoints below the whistle: grid events and 12345 tickets over HTTP, tickets over
the `hotline` exchange, and the tiers' deadline sweep. Mixed into WhistleService (its `store` and
`reference`), with Open311 (open311_web.py) as its base."""
from __future__ import annotations

from nameko.web.handlers import http
from sqlalchemy.exc import IntegrityError

from services.common.consumer import consume
from services.common.errors import NotFound
from services.common.events import (HOTLINE, AcceptGridEvent, CloseGridEvent, ContractError, FieldError,
                                    HandleGridEvent, HotlineTicket, OpenGridEvent, PassUpGridEvent, VerifyGridEvent,
                                    WhistleGridEvent, iso, parse, utcnow)
from services.common.guard import Auth, guarded
from services.common.periodic import every
from services.common.web import json_api, read_json
from services.whistle import grid_handlers, grid_store, hotline
from services.whistle.domain import InvalidRequest
from services.whistle.grid_event import Decision, NoSuchGridEvent
from services.whistle.grid_rules import process_locate, process_rules
from services.whistle.open311_web import Open311Endpoints, language_of

STEPS = {"accept": AcceptGridEvent, "handle": HandleGridEvent, "close": CloseGridEvent, "pass-up": PassUpGridEvent,
         "verify": VerifyGridEvent, "whistle": WhistleGridEvent}


class NoSuchTicket(NotFound):
    what = "no such ticket"


class AnyObject:
    """For read_json: any JSON object, checked against its command once the path's id is in."""

    @staticmethod
    def model_validate(payload: dict) -> dict:
        return payload


def parsed(model, body: dict):
    """The body as `model`; InvalidRequest (422) naming each bad field."""
    try:
        return parse(model, body)
    except ContractError as exc:
        raise InvalidRequest(exc.errors) from None


def step_command(model, body: dict, grid_event_id: str):
    """A step's command; the path names the event, so the body may leave grid_event_id out."""
    if body.setdefault("grid_event_id", grid_event_id) != grid_event_id:
        raise InvalidRequest.one("grid_event_id", "the body names another grid event than the path")
    return parsed(model, body)


def step_answer(decision: Decision) -> dict:
    state = decision.state
    return {"grid_event_id": state.event_id, "status": state.status, "tier": state.tier,
            "verification": state.verification, "whistle_id": state.whistle_id, "repeated": decision.repeated,
            "accept_by": iso(state.accept_by) if state.accept_by else None,
            "handle_by": iso(state.handle_by) if state.handle_by else None}


def rejected_receipt(body: dict, routing_key: str, errors: tuple[FieldError, ...]):
    """What the hotline hears about a ticket the bus entrypoint refused."""
    return hotline.rejected_receipt(body, routing_key, errors, utcnow())


class GridEndpoints(Open311Endpoints):
    """Below the whistle (小事不出网格、大事不出社区、难事不出街道), and Open311 beside it."""

    auth = Auth()

    # ------------------------------------------------------------------ use cases, whatever the channel
    def _run(self, use_case):
        """One unit of work; a concurrent twin of the request may win a unique key, then the retry sees it."""
        for _ in range(2):
            try:
                with self.store.unit_of_work() as uow:
                    return use_case(uow)
            except IntegrityError:
                continue
        raise RuntimeError("the request was neither stored nor found")

    def _owned_event(self, grid_event_id: str) -> dict:
        """The event's owner, checked against the caller (404 before 403: ids are not secrets here)."""
        with self.store.unit_of_work() as uow:
            found = grid_store.get(uow.conn, grid_event_id)
        if found is None:
            raise NoSuchGridEvent.one("grid_event_id", f"no grid event {grid_event_id}")
        owner = {"street_code": found[0].street_code}
        self.auth.require(owner)
        return owner

    def _receive_ticket(self, ticket: HotlineTicket):
        return self._run(lambda uow: grid_handlers.receive_ticket(uow, process_rules(), process_locate(), ticket))

    # ------------------------------------------------------------------ HTTP: grid events
    @http("POST", "/api/v1/grid-events")
    @guarded("grid_event.open", obj="grid_event")
    @json_api
    def post_grid_event(self, request):
        """A report at a grid (or, placed on no grid, at the street); 201, or 200 with repeated for a request id
        seen before."""
        body = self.auth.claim(read_json(request, AnyObject))
        command = parsed(OpenGridEvent, body)
        self.auth.require({"street_code": command.street_code})
        decision = self._run(lambda uow: grid_handlers.open_grid_event(uow, process_rules(), process_locate(),
                                                                       command))
        answer = {**step_answer(decision), "grid_code": decision.state.grid_code,
                  "community_code": decision.state.community_code, "over_daily_cap": decision.state.over_daily_cap}
        return (200 if decision.repeated else 201), answer

    @http("POST", "/api/v1/grid-events/<string:grid_event_id>/<string:step>")
    @guarded("grid_event.act", obj="grid_event")
    @json_api
    def post_grid_event_step(self, request, grid_event_id, step):
        """accept, handle, close, pass-up, verify (核查) or whistle (吹哨) the event."""
        model = STEPS.get(step)
        if model is None:
            raise NotFound.one("step", f"no step {step!r}; one of {', '.join(STEPS)}")
        self._owned_event(grid_event_id)
        body = read_json(request, AnyObject)
        if model is WhistleGridEvent:
            body = self.auth.claim(body)
        command = step_command(model, body, grid_event_id)
        rules = process_rules()
        with self.store.unit_of_work() as uow:
            if model is WhistleGridEvent:
                decision = grid_handlers.whistle(uow, self.reference, rules, command)
            else:
                decision = grid_handlers.act(uow, rules, command)
        return 200, step_answer(decision)

    @http("GET", "/api/v1/grid-events/<string:grid_event_id>")
    @guarded("grid_event.read", obj="grid_event")
    @json_api
    def get_grid_event(self, request, grid_event_id):
        """The event and its timeline (?lang= or Accept-Language; zh-CN by default), never its complainant."""
        self._owned_event(grid_event_id)
        with self.store.unit_of_work() as uow:
            return 200, grid_handlers.get_event(uow, grid_event_id, language_of(request))

    @http("GET", "/api/v1/grid-events/<string:grid_event_id>/contact")
    @guarded("grid_event.contact", obj="grid_event")
    @json_api
    def get_grid_event_contact(self, request, grid_event_id):
        """The complainant's contact (personal data): the owning street and the follow-up desk only."""
        self._owned_event(grid_event_id)
        with self.store.unit_of_work() as uow:
            return 200, {"grid_event_id": grid_event_id, "contacts": grid_store.contacts_of(uow.conn, grid_event_id)}

    # ------------------------------------------------------------------ HTTP: 12345 tickets
    @http("POST", "/api/v1/tickets")
    @guarded("ticket.receive")
    @json_api
    def post_ticket(self, request):
        """接诉即办: a ticket for its street; 201 with the receipt, 200 with repeated for a ticket id seen before."""
        receipt = self._receive_ticket(read_json(request, HotlineTicket))
        return (200 if receipt.repeated else 201), receipt.model_dump(mode="json")

    @http("GET", "/api/v1/tickets/<string:ticket_id>")
    @guarded("ticket.read", obj="ticket")
    @json_api
    def get_ticket(self, request, ticket_id):
        with self.store.unit_of_work() as uow:
            ticket = grid_handlers.get_ticket(uow, ticket_id)
        if ticket is None:
            raise NoSuchTicket.one("ticket_id", f"no ticket {ticket_id}")
        self.auth.require({"street_code": ticket["street_code"]})
        return 200, ticket

    # ------------------------------------------------------------------ the bus
    @consume("whistle.tickets", [(HOTLINE, "ticket.*")], HotlineTicket, outcome=rejected_receipt,
             verify=hotline.verify_sender)
    def on_ticket(self, uow, ticket: HotlineTicket):
        grid_handlers.receive_ticket(uow, process_rules(), process_locate(), ticket)

    # ------------------------------------------------------------------ deadlines
    @every("grid_sweep_seconds")
    def sweep_grid_events(self):
        """A tier past its deadline passes the event up; the street is chased (督办)."""
        with self.store.unit_of_work() as uow:
            grid_handlers.sweep(uow, process_rules())

