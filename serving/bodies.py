"""Reading a JSON request body within a nesting limit.

Python's json parser and pydantic recurse per level: a body nested 50,000 deep ended in a
RecursionError (a 500). Most bodies hold fewer brackets than the limit in total, which two
byte counts prove; only the others are walked, without recursion, after parsing.
"""

from __future__ import annotations

import json
from typing import Any

from serving.errors import INVALID_REQUEST, ApiError


def too_deep(limit: int) -> ApiError:
    return ApiError(
        400,
        f"The request body is nested deeper than {limit} levels (server.max_json_depth).",
        INVALID_REQUEST,
        code="invalid_json",
    )


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests lists and objects deeper than `limit` (walked with a stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def load_json_object(raw: bytes, max_depth: int) -> dict[str, Any]:
    """The body as a JSON object; 400 naming the problem otherwise."""
    try:
        body = json.loads(raw)
    except RecursionError:
        raise too_deep(max_depth) from None
    except ValueError as error:
        message = f"The request body is not valid JSON ({error})."
        raise ApiError(400, message, INVALID_REQUEST, code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    if raw.count(b"[") + raw.count(b"{") > max_depth and depth_exceeds(body, max_depth):
        raise too_deep(max_depth)
    return body


def check_depth(raw: bytes, max_depth: int) -> None:
    """Refuse `raw` if it is JSON nested deeper than `max_depth`; anything else (invalid
    JSON included) is left to whoever parses it next."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return
    try:
        value = json.loads(raw)
    except RecursionError:
        raise too_deep(max_depth) from None
    except ValueError:
        return
    if depth_exceeds(value, max_depth):
        raise too_deep(max_depth)
