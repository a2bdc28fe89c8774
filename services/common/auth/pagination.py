"""Bounded lists (OWASP API4): `?limit=N&cursor=C`, keyset pagination with an opaque cursor.

A cursor is the last key of the previous page, base64url-encoded JSON: it carries no authority
(every row is still checked) and a forged one only moves the starting point."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: str | None           # the key rows must sort after, or None for the first page


@dataclass(frozen=True)
class Page:
    items: list
    next_cursor: str | None     # None on the last page

    def body(self, name: str) -> dict:
        return {name: self.items, "next_cursor": self.next_cursor}


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        after = json.loads(raw)["after"]
    except (ValueError, KeyError, TypeError):
        raise PageError("cursor", "not a cursor this API gave out") from None
    if not isinstance(after, str):
        raise PageError("cursor", "not a cursor this API gave out")
    return after


def page_request(args: Mapping[str, str], default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> PageRequest:
    """Reads `limit` (1..maximum, default `default`) and `cursor` from query arguments; PageError names the bad one."""
    text = args.get("limit")
    if text is None or text == "":
        limit = default
    else:
        try:
            limit = int(text)
        except ValueError:
            raise PageError("limit", f"{text[:20]!r} is not a whole number") from None
        if not 1 <= limit <= maximum:
            raise PageError("limit", f"must be between 1 and {maximum}")
    cursor = args.get("cursor")
    if cursor is not None and len(cursor) > 512:
        raise PageError("cursor", "not a cursor this API gave out")
    return PageRequest(limit, decode_cursor(cursor) if cursor else None)


def page_of(rows: Sequence[Any], key: Callable[[Any], str], request: PageRequest) -> Page:
    """A page from rows already sorted by `key` and starting after `request.after`, fetched with
    LIMIT limit + 1 (the extra row says whether there is a next page)."""
    items = list(rows[:request.limit])
    more = len(rows) > request.limit
    return Page(items, encode_cursor(key(items[-1])) if more and items else None)


def paginate(rows: Sequence[Any], key: Callable[[Any], str], request: PageRequest) -> Page:
    """Pages an in-memory list: sorts by `key`, skips to the cursor, and cuts the page."""
    ordered = sorted(rows, key=key)
    if request.after is not None:
        ordered = [row for row in ordered if key(row) > request.after]
    return page_of(ordered[:request.limit + 1], key, request)
