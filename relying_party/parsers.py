"""Request-body parsers that answer 400 for hostile bodies instead of raising past DRF.

Set REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] to these, so that every endpoint that reads
`request.data`, today's and tomorrow's, gets them:
- `JSONParser` refuses JSON nested deeper than MAX_JSON_DEPTH before decoding it. DRF's parser
  lets the decoder recurse until Python's RecursionError, which no handler expects (a 2 KB body of
  brackets is enough).
- `FormParser` turns Django's TooManyFieldsSent (DATA_UPLOAD_MAX_NUMBER_FIELDS) into a ParseError.

Both leave the size cap to Django: DRF reads these bodies through `HttpRequest.body`, which
enforces DATA_UPLOAD_MAX_MEMORY_SIZE. Light on purpose: the issuer uses this module too, and it
must not load the relying party's verifier or HTTP client.
"""
from __future__ import annotations

import io
from array import array
from collections.abc import Mapping
from itertools import accumulate
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import get_encoding

# Far deeper than any body an identity API takes ({"refresh": "..."} is 1), and shallow enough
# that no code handling the parsed data can recurse its way to a RecursionError.
MAX_JSON_DEPTH = 32

# Deleting every byte but brackets, then mapping openers to +1 and closers to -1 (signed bytes).
_NOT_A_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def json_nesting_depth(text: str) -> int:
    """Return how deeply the arrays and objects of the JSON `text` nest (0 for a scalar).

    Written by hand because neither the standard library nor DRF can bound depth: `object_hook`
    runs only after a level is parsed, and a RecursionError depends on how deep the stack already
    is, so the same body would pass in one worker and fail in another, and a body just under
    that limit would reach the views. For valid JSON the count is exact (RFC 8259 §2: brackets
    outside strings are the structure). For invalid JSON it agrees with the decoder up to the
    first error, where the decoder stops. Every step runs in C: about 1.5 ms for 64 KB of brackets.
    """
    data = text.encode("utf-8", "surrogatepass")
    # RFC 8259 §7: in a string a backslash escapes the next character. Dropping escaped backslashes,
    # then escaped quotes, leaves only the quotes that open and close strings.
    data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Between quotes, every other piece is a string's content: its brackets are not structure.
    steps = b"".join(data.split(b'"')[::2]).translate(_BRACKET_STEPS, _NOT_A_BRACKET)
    return max(accumulate(array("b", steps)), default=0)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than MAX_JSON_DEPTH with a ParseError."""

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        raw = stream.read()
        try:
            text = raw.decode(get_encoding(parser_context or {}))
        except ValueError as e:  # UnicodeDecodeError
            raise ParseError(f"JSON parse error - {e}") from e
        if json_nesting_depth(text) > MAX_JSON_DEPTH:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels")
        # DRF decodes the same bytes again: its strictness (no NaN) and its messages stay as they are.
        return super().parse(io.BytesIO(raw), media_type, parser_context)


class FormParser(parsers.FormParser):
    """DRF's form parser, answering a ParseError for more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields."""

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> QueryDict:
        try:
            return super().parse(stream, media_type, parser_context)
        except TooManyFieldsSent as e:
            raise ParseError(f"Form body has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields.") from e
