"""JSON request bodies with a bound on nesting (issue 18, attack 1).

Python's json parser recurses once per level: a body of 10,000 nested arrays raised RecursionError, a 500
with two tracebacks in the log. `BoundedJSONParser` answers such a body 400 `parse_error` instead: a body
too deep for the parser's recursion is refused as it fails, and any other body deeper than MAX_DEPTH levels
once parsed (an iterative walk, so it cannot recurse itself). No studentperf endpoint takes more than three
levels (`{"instances": [{...}]}`, a what-if's `{"changes": {...}}`).
"""
from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32
TOO_DEEP = f"JSON parse error - the body nests arrays or objects more than {MAX_DEPTH} levels deep."


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if json_depth_exceeds(data, MAX_DEPTH):
            raise ParseError(TOO_DEEP)
        return data


def json_depth_exceeds(data, limit: int) -> bool:
    """Whether parsed JSON nests arrays or objects more than `limit` levels deep (a scalar is level 0)."""
    pending = [(data, 1)] if isinstance(data, (dict, list)) else []
    while pending:
        value, depth = pending.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
