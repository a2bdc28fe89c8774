"""The assessment over HTTP and RPC (a mixin of the metrics service; needs its `store`, `auth`, `context`).

    GET  /api/v1/assessment/<period>[?format=json|csv|md|html&lang=zh|en&as_of=ISO-8601]
    GET  /api/v1/assessment/<period>/chart.png | chart.svg      [?lang=&as_of=]
    POST /api/v1/assessment/decisions                           an exemption or an appeal (district staff)
    RPC  metrics.assessment(period, as_of=None), metrics.record_decision(request)

`period` is a month (2026-11) or a quarter (2026-Q4); figures are as of `as_of` (default: now).
`format=md|html` is the monthly bulletin (每月通报); Markdown links its chart when `chart=` names where
the image will be (relative to the Markdown file), HTML draws it inline.
"""
from __future__ import annotations

import functools

from nameko.rpc import rpc
from nameko.web.handlers import http
from werkzeug.wrappers import Response

from services.common.errors import AUTH_ERRORS
from services.common.errors import REFUSALS
from services.common.events import RecordDecision, parse
from services.common.guard import guarded, guarded_rpc
from services.common.web import json_api, read_json
from services.metrics import assessing


def answered(fn):
    """json_api's errors and JSON answers, and a route may also answer a ready Response (CSV, HTML, PNG)."""
    @functools.wraps(fn)
    def wrapper(self, request, *args, **kwargs):
        ready = []

        def run(self, request, *args, **kwargs):
            result = fn(self, request, *args, **kwargs)
            if isinstance(result, Response):
                ready.append(result)
                return 200, {}
            return result
        answer = json_api(run)(self, request, *args, **kwargs)
        return ready[0] if ready else answer
    return wrapper


def _filename(period, suffix: str) -> str:
    return f"assessment-{period.label}.{suffix}"


class AssessmentEndpoints:
    """考核: the assessment of a month or a quarter, its chart and bulletin, exemptions and appeals."""

    def _assessment(self, period_text: str, as_of_text=None):
        period = assessing.period_of(period_text)
        with self.store.unit_of_work() as uow:
            as_of = assessing.instant_of(as_of_text, uow.now)
            return period, assessing.assessment_of(uow.conn, self.context, period, as_of)

    @http("GET", "/api/v1/assessment/<string:period>")
    @guarded("assessment.read")
    @answered
    def http_assessment(self, request, period):
        fmt = assessing.format_of(request.args.get("format"), assessing.FORMATS)
        language = assessing.language_of(request.args.get("lang"))
        parsed, assessment = self._assessment(period, request.args.get("as_of"))
        rendered = assessing.render(assessment, self.context, fmt, language, request.args.get("chart"))
        if fmt == "json":
            return 200, rendered.body
        headers = {"Content-Disposition": f'inline; filename="{_filename(parsed, fmt)}"'}
        return Response(rendered.body, status=200, content_type=rendered.content_type, headers=headers)

    @http("GET", "/api/v1/assessment/<string:period>/chart.<any(png, svg):fmt>")
    @guarded("assessment.read")
    @answered
    def http_assessment_chart(self, request, period, fmt):
        language = assessing.language_of(request.args.get("lang"))
        parsed, assessment = self._assessment(period, request.args.get("as_of"))
        return Response(assessing.draw(assessment, fmt, language), status=200,
                        content_type=assessing.CHARTS[fmt],
                        headers={"Content-Disposition": f'inline; filename="{_filename(parsed, fmt)}"'})

    @http("POST", "/api/v1/assessment/decisions")
    @guarded("assessment.decide")
    @answered
    def http_record_decision(self, request):
        return 201, self._record(read_json(request, RecordDecision))

    def _record(self, command: RecordDecision) -> dict:
        with self.store.unit_of_work() as uow:
            return assessing.record_decision(uow, command, str(self.auth.principal))

    # ------------------------------------------------------------------ RPC
    @rpc(expected_exceptions=(*REFUSALS, *AUTH_ERRORS))
    @guarded_rpc("assessment.read")
    def assessment(self, period: str, as_of: str | None = None) -> dict:
        """The assessment of `period` as JSON data (what GET /api/v1/assessment/<period> answers)."""
        _, assessment = self._assessment(period, as_of)
        return assessing.render(assessment, self.context, "json", "zh").body

    @rpc(expected_exceptions=(*REFUSALS, *AUTH_ERRORS))
    @guarded_rpc("assessment.decide")
    def record_decision(self, request: dict) -> dict:
        return self._record(parse(RecordDecision, request))
