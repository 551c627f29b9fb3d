"""An incremental reader of a `multipart/form-data` body (python-multipart's parser).

Fields are kept (each at most `MAX_FIELD_BYTES`, at most `MAX_FIELDS`); the bytes of the file
part are handed on as they arrive, never held whole. A repeated name (`include[]`) keeps every
value.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 64
FILE_FIELD = "file"


class FormError(ValueError):
    """The body is not the multipart form it should be (the message says what to send)."""


def boundary_of(content_type: str | None) -> bytes:
    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        raise FormError("send the request as multipart/form-data (Content-Type: multipart/form-data; "
                        "boundary=...), with the audio in the 'file' field")
    return params[b"boundary"]


@dataclass
class FormReader:
    """`feed(chunk)` returns the file's bytes within that chunk; fields collect in `fields`."""

    boundary: bytes
    fields: dict[str, list[str]] = field(default_factory=dict)
    file_started: bool = False  # the file part's headers were read (every field before it is known)
    file_ended: bool = False
    filename: str = ""
    _name: str = ""
    _is_file: bool = False
    _header: bytes = b""
    _header_text: bytes = b""
    _headers: dict[bytes, bytes] = field(default_factory=dict)
    _value: bytearray = field(default_factory=bytearray)
    _out: list[bytes] = field(default_factory=list)
    _error: str | None = None

    def __post_init__(self) -> None:
        self._parser = MultipartParser(self.boundary, {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": self._part_end})

    def feed(self, chunk: bytes) -> list[bytes]:
        try:
            self._parser.write(chunk)
        except MultipartParseError as error:
            raise FormError(f"the multipart body is malformed ({error})") from None
        if self._error:
            raise FormError(self._error)
        out, self._out = self._out, []
        return out

    def value(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None

    def values(self, name: str) -> list[str]:
        return self.fields.get(name, [])

    # ---- the parser's callbacks ---------------------------------------------------------------
    def _part_begin(self) -> None:
        self._headers, self._value, self._name, self._is_file = {}, bytearray(), "", False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]  # a header may arrive in pieces: kept until its end

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_text += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header.lower()] = self._header_text
        self._header, self._header_text = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        self._is_file = self._name == FILE_FIELD
        if self._is_file:
            if self.file_started:
                self._error = "send one 'file' per request"
            self.file_started = True
            self.filename = params.get(b"filename", b"").decode("utf-8", "replace")
        elif len(self.fields) >= MAX_FIELDS:
            self._error = f"a request has at most {MAX_FIELDS} form fields"

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self._out.append(bytes(data[start:end]))
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            self._error = f"the form field '{self._name}' is over {MAX_FIELD_BYTES} bytes"

    def _part_end(self) -> None:
        if self._is_file:
            self.file_ended = True
        elif self._name:
            self.fields.setdefault(self._name, []).append(self._value.decode("utf-8", "replace"))
