"""The request class: multipart/form-data bodies read by `multipart`'s push parser instead of werkzeug's."""
from __future__ import annotations

import tempfile
from typing import IO

import flask
import multipart
from werkzeug.datastructures import FileStorage, Headers
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import ApiError

# Flask's default for the part limit werkzeug applies, should the app leave it unset (None).
MAX_FORM_PARTS = 1000
# An uploaded file larger than this is spooled to a temporary file while it is read.
SPOOL_BYTES = 64 * 1024
# How much of the body one read takes from the stream.
READ_BYTES = 64 * 1024


class Request(flask.Request):
    """flask.Request, with multipart/form-data bodies read by `multipart`'s push parser.

    The OpenAI SDK sends every create as a multipart form. werkzeug's parser spent about 140 us on its four text
    fields, a seventh of the create's CPU; `multipart`'s MultipartParser behind werkzeug's FormDataParser still
    cost about three times what the push parser fed straight from the stream costs (BENCHMARKS.md, item 1,
    session 23). The limits are werkzeug's, from Flask's config: MAX_FORM_PARTS parts, MAX_FORM_MEMORY_SIZE
    bytes for one text field, MAX_CONTENT_LENGTH for the body (the stream is limited to it), each a 413 when
    exceeded. Unlike werkzeug, which answers a malformed body with an empty form, a malformed body is a 400 that
    says why. Other bodies (application/x-www-form-urlencoded) are werkzeug's.
    """

    def _load_form_data(self) -> None:
        if "form" in self.__dict__ or self.mimetype != "multipart/form-data":
            super()._load_form_data()
            return
        fields, files = read_multipart(self.stream, self.mimetype_params.get("boundary", ""),
                                       self.max_form_parts or MAX_FORM_PARTS, self.max_form_memory_size)
        self.__dict__.update(form=self.parameter_storage_class(fields), files=self.parameter_storage_class(files))


def read_multipart(stream: IO[bytes], boundary: str, max_parts: int, max_field_bytes: int | None
                   ) -> tuple[list[tuple[str, str]], list[tuple[str, FileStorage]]]:
    """The text fields and the files of a multipart/form-data body, in the order they came."""
    fields: list[tuple[str, str]] = []
    files: list[tuple[str, FileStorage]] = []
    text: list[bytes] = []  # the current text field's bytes
    upload: IO[bytes] | None = None  # the current file's spool
    size = 0
    try:
        with multipart.PushMultipartParser(boundary, max_segment_count=max_parts) as parser:
            while not parser.closed:
                for event in parser.parse(stream.read(READ_BYTES)):
                    if isinstance(event, multipart.MultipartSegment):
                        segment, size = event, 0
                        if segment.filename is not None:
                            # Closed with the request (Request.close), or below if the body turns out bad.
                            upload = tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115
                            files.append((segment.name, FileStorage(
                                upload, segment.filename, segment.name, segment.content_type,
                                headers=Headers(segment.headerlist))))
                    elif event is None:  # the end of the segment
                        if upload is None:
                            fields.append((segment.name, b"".join(text).decode(segment.charset or "utf8")))
                            text.clear()
                        else:
                            upload.seek(0)
                            upload = None
                    elif upload is None:
                        size += len(event)
                        if max_field_bytes is not None and size > max_field_bytes:
                            raise RequestEntityTooLarge(f"The form field {segment.name!r} is too large.")
                        text.append(event)
                    else:
                        upload.write(event)
    except BaseException as error:
        for _name, stored in files:  # spooled uploads may be temporary files: do not leave them open
            stored.close()
        if isinstance(error, multipart.ParserLimitReached):
            raise RequestEntityTooLarge(f"The form is too large: {error}.") from error
        if isinstance(error, (multipart.MultipartError, UnicodeDecodeError, LookupError)):
            raise ApiError(400, f"The multipart/form-data body is malformed: {error}",
                           code="invalid_multipart") from error
        raise
    return fields, files
