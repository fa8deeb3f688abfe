"""Reading the kit's plain-text inputs (metadata, id lists) the same way everywhere.

Every text file a user brings is read with :func:`text_lines`: UTF-8 with or without a
byte-order mark, LF, CRLF or CR line ends, blank lines (including trailing ones) skipped, and
surrounding whitespace stripped. A file that is not UTF-8 raises :class:`TextFileError` (a
``ValueError``) naming the file and the line of the first undecodable byte.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path


_LINE_END = re.compile(r"\r\n|\r|\n")  # not str.splitlines: form feeds etc. are not line ends


class TextFileError(ValueError):
    """A problem in a text input; the message starts with ``file:line:`` (or ``file:``)."""

    def __init__(self, path: Path | str, line: int | None, message: str):
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {message}")


def read_text(path: Path | str) -> str:
    """The text of a UTF-8 file, without a leading byte-order mark.

    Raises FileNotFoundError (missing or not a file) or :class:`TextFileError` (not UTF-8).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist" if not path.exists()
                                else f"{path} is not a file")
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise TextFileError(path, line, f"not UTF-8 text (byte 0x{data[err.start]:02x}); "
                            "save the file as UTF-8") from None


def text_lines(path: Path | str) -> list[tuple[int, str]]:
    """Non-blank lines of a text file as ``(1-based line number, stripped text)`` pairs.

    Accepts a UTF-8 byte-order mark and LF / CRLF / CR line ends; see :func:`read_text` for the
    errors raised.
    """
    lines = []
    for number, line in enumerate(_LINE_END.split(read_text(path)), start=1):
        line = line.strip()
        if line:
            lines.append((number, line))
    return lines
