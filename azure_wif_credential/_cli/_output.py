"""What the command line writes: every character a terminal would act on, escaped.

Text from Graph, tokens, issuers and the environment reaches the terminal (a FIC's description, a
subject, an error message). A control character in it could move the cursor, rewrite the screen or
hide a line (``ESC [``, the C1 ``CSI``, a carriage return, bidirectional overrides), and a lone
surrogate (a non-UTF-8 environment value) would crash the write. Both streams are wrapped so that
every write shows such characters as escapes instead (``\\x1b``); newline and tab pass.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escaped(text: str) -> str:
    """``text`` with every terminal-active or unencodable character shown as an escape."""
    return _UNSAFE.sub(_escape, text)


class EscapingStream:
    """A text stream that writes through :func:`escaped`; everything else is the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(escaped(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
