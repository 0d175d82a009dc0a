"""The request class: multipart/form-data bodies parsed by `multipart` (Bottle's parser) instead of werkzeug's."""
from __future__ import annotations

from typing import IO, Any

import flask
import multipart
from werkzeug.datastructures import FileStorage, Headers, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from app.errors import ApiError

# Flask's defaults for the limits werkzeug applies, should the app leave them unset (None).
MAX_FORM_PARTS = 1000
# A text field longer than this is spooled to a temporary file while it is parsed, as a file part is.
SPOOL_BYTES = 64 * 1024


class MultipartFormParser(FormDataParser):
    """werkzeug's form parser, with `multipart` for multipart/form-data.

    The OpenAI SDK sends every create as a multipart form: werkzeug's parser spent about 140 us on its four
    text fields, a seventh of the create's CPU; `multipart` spends about 25 us. The limits are werkzeug's,
    from Flask's config: MAX_FORM_PARTS parts, MAX_FORM_MEMORY_SIZE bytes for one text field,
    MAX_CONTENT_LENGTH for the body (the stream is already limited to it), each a 413 when exceeded. Unlike
    werkzeug, which answers a malformed body with an empty form, a malformed body is a 400 that says why.
    """

    def parse(self, stream: IO[bytes], mimetype: str, content_length: int | None,
              options: dict[str, str] | None = None) -> tuple[IO[bytes], MultiDict[str, Any], MultiDict[str, Any]]:
        if mimetype != "multipart/form-data":
            return super().parse(stream, mimetype, content_length, options)
        parser = multipart.MultipartParser(
            stream, (options or {}).get("boundary", ""), -1 if content_length is None else content_length,
            part_limit=self.max_form_parts or MAX_FORM_PARTS, spool_limit=SPOOL_BYTES,
            disk_limit=self.max_content_length or float("inf"))
        fields: list[tuple[str, str]] = []
        files: list[tuple[str, FileStorage]] = []
        try:
            for part in parser:
                if part.filename is None:
                    if self.max_form_memory_size is not None and part.size > self.max_form_memory_size:
                        raise RequestEntityTooLarge(f"The form field {part.name!r} is too large.")
                    fields.append((part.name, part.value))
                    part.close()
                else:
                    files.append((part.name, FileStorage(part.file, part.filename, part.name, part.content_type,
                                                         headers=Headers(part.headerlist))))
        except BaseException as error:
            for _name, upload in files:  # spooled uploads are temporary files: do not leave them open
                upload.close()
            if isinstance(error, multipart.ParserLimitReached):
                raise RequestEntityTooLarge(f"The form is too large: {error}.") from error
            if isinstance(error, (multipart.MultipartError, UnicodeDecodeError, LookupError)):
                raise ApiError(400, f"The multipart/form-data body is malformed: {error}",
                               code="invalid_multipart") from error
            raise
        return stream, self.cls(fields), self.cls(files)


class Request(flask.Request):
    form_data_parser_class = MultipartFormParser
