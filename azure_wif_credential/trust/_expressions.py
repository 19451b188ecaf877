"""Flexible federated identity credentials: the ``claimsMatchingExpression`` language, version 1.

    claims['sub'] matches 'repo:contoso/*' and claims['repository_owner_id'] eq '1234'

One or more comparisons joined by ``and``; each compares one claim (a string) with a single-quoted
literal (``\\'`` is a quote, ``\\\\`` a backslash) by ``eq`` (equal, case-sensitive) or ``matches``
(``*`` any run of characters, ``?`` one character; nothing else is special). Parsed into a small tree,
so a malformed expression is refused before it reaches Graph. (The sandbox reads the language with an
implementation of its own, ``sandbox._claims_matching``: it judges this one.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, List, Mapping, Tuple

LANGUAGE_VERSION = 1
MAX_EXPRESSION_LENGTH = 600
_CLAIM = re.compile(r"claims\['([A-Za-z0-9_.:\-/]{1,64})'\]")
_OPERATORS = ("eq", "matches")


class ExpressionError(ValueError):
    """A claims-matching expression that is not valid language version 1 (says where and why)."""


@dataclass(frozen=True)
class Comparison:
    claim: str
    operator: str
    value: str

    def holds(self, claims: Mapping[str, Any]) -> bool:
        actual = claims.get(self.claim)
        if not isinstance(actual, str):
            return False
        if self.operator == "eq":
            return actual == self.value
        return _wildcard(self.value).fullmatch(actual) is not None


@dataclass(frozen=True)
class Expression:
    comparisons: Tuple[Comparison, ...]

    def matches(self, claims: Mapping[str, Any]) -> bool:
        return all(c.holds(claims) for c in self.comparisons)

    def pins(self, claim: str) -> bool:
        """Whether the expression requires ``claim`` to equal one exact value."""
        return any(c.claim == claim and c.operator == "eq" for c in self.comparisons)


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S)


def parse(text: Any) -> Expression:
    if not isinstance(text, str):
        raise ExpressionError(f"a claims-matching expression is a string, not {type(text).__name__}")
    if not text.strip():
        raise ExpressionError("the claims-matching expression is empty")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"the claims-matching expression is longer than {MAX_EXPRESSION_LENGTH} characters"
        )
    comparisons: List[Comparison] = []
    position = 0
    while True:
        position = _skip_space(text, position)
        claim = _CLAIM.match(text, position)
        if not claim:
            raise ExpressionError(
                f"expected claims['<name>'] at position {position}: {text[position : position + 20]!r}"
            )
        position = _skip_space(text, claim.end())
        operator = next((op for op in _OPERATORS if text.startswith(op, position)), None)
        if operator is None or (
            position + len(operator) < len(text) and not text[position + len(operator)].isspace()
        ):
            raise ExpressionError(f"expected 'eq' or 'matches' at position {position}")
        position = _skip_space(text, position + len(operator))
        value, position = _literal(text, position)
        comparisons.append(Comparison(claim.group(1), operator, value))
        position = _skip_space(text, position)
        if position == len(text):
            return Expression(tuple(comparisons))
        if (
            not text.startswith("and", position)
            or position + 3 == len(text)
            or not text[position + 3].isspace()
        ):
            raise ExpressionError(
                f"expected 'and' or the end at position {position}: {text[position : position + 20]!r}"
            )
        position += 3


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _literal(text: str, position: int) -> Tuple[str, int]:
    if position >= len(text) or text[position] != "'":
        raise ExpressionError(f"expected a single-quoted value at position {position}")
    chars: List[str] = []
    index = position + 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in "'\\":
            chars.append(text[index + 1])
            index += 2
            continue
        if char == "'":
            return "".join(chars), index + 1
        chars.append(char)
        index += 1
    raise ExpressionError(f"the value starting at position {position} has no closing quote")
