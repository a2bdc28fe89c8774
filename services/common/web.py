"""HTTP helpers for nameko @http entrypoints: JSON in and out, clear errors, a size limit, /metrics."""
from __future__ import annotations

import functools
import json
import logging
import math
from typing import Any, Callable

from nameko.web.handlers import http
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.wrappers import Response

from services.common.errors import AccessRefused, TooManyRequests, Unauthenticated, errors_of, http_status
from services.common.events import MAX_BODY_BYTES, ContractError, FieldError, parse

log = logging.getLogger(__name__)
REALM = "chuishao"


class HttpError(Exception):
    """An answer only HTTP gives (413, 415, 400 for bytes that are not JSON, 404 for a route's own lookups)."""

    def __init__(self, status: int, message: str, errors: tuple[FieldError, ...] = ()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def json_response(status: int, body: Any) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                    mimetype="application/json")


def error_body(message: str, errors: tuple[FieldError, ...] = ()) -> dict:
    return {"error": message, "errors": [e.model_dump() for e in errors]}


def read_json(request, model):
    """The request body validated as `model`; HttpError 413/415/400 naming what is wrong."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise HttpError(413, f"request body exceeds {MAX_BODY_BYTES} bytes")
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise HttpError(413, f"request body exceeds {MAX_BODY_BYTES} bytes")
    if request.mimetype != "application/json":
        raise HttpError(415, f"content type must be application/json, not {request.mimetype or 'none'}")
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpError(400, f"invalid JSON: {exc}") from None
    try:
        return parse(model, payload)
    except ContractError as exc:
        raise HttpError(422, "invalid request", exc.errors) from None


def refusal_headers(exc: Exception) -> dict[str, str]:
    """The headers a refusal answers with: `WWW-Authenticate: Bearer` on a 401 (RFC 6750: no error code
    when no credentials came at all, invalid_token when a token came and failed), `Retry-After` on a 429."""
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": f'Bearer realm="{REALM}"' + (', error="invalid_token"' if exc.token_given else "")}
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return {}


def refusal_response(exc: Exception, status: int) -> Response:
    """The answer to a refusal of the error table: its status, `{error, errors}` (and `error_zh` for
    access control's) and its headers (refusal_headers)."""
    if isinstance(exc, AccessRefused):
        body = {**error_body(exc.reason, exc.errors), "error_zh": exc.reason_zh}
    else:
        body = error_body("invalid request" if isinstance(exc, ContractError) else str(exc), errors_of(exc))
    response = json_response(status, body)
    for name, value in refusal_headers(exc).items():
        response.headers[name] = value
    return response


def json_api(fn: Callable) -> Callable:
    """JSON in and out: a refusal answers its status from the error table (services/common/errors.py)
    with the field errors, HttpError its own, and anything unexpected a JSON 500 without a traceback."""

    @functools.wraps(fn)
    def wrapper(self, request, *args, **kwargs):
        try:
            status, body = fn(self, request, *args, **kwargs)
            return json_response(status, body)
        except HttpError as exc:
            return json_response(exc.status, error_body(exc.message, exc.errors))
        except Exception as exc:  # noqa: BLE001 - a fault is logged with its traceback; the caller gets none
            status = http_status(exc)
            if status is not None:
                return refusal_response(exc, status)
            log.exception("unexpected error serving %s %s", request.method, request.path)
            return json_response(500, error_body("internal error; the operator has the details"))

    return wrapper


class OpsEndpoints:
    """/health and /metrics, mixed into every service."""

    @http("GET", "/health")
    def health(self, request):
        """200 once the service is consuming from the bus; 503 while it (re)connects."""
        from services.common.consumer import STATE
        if not STATE["consuming"]:
            return json_response(503, {"status": "connecting", "service": self.name})
        return json_response(200, {"status": "ok", "service": self.name})

    @http("GET", "/metrics")
    def metrics(self, request):
        return Response(generate_latest(), status=200, content_type=CONTENT_TYPE_LATEST)
