"""The sandbox's own reading of ``claimsMatchingExpression`` (language version 1), as Entra evaluates a
flexible federated identity credential.

Written apart from the library's parser (``trust._expressions``) on purpose: the sandbox judges the
client, so it must not share the client's decision logic (a bug both used could never fail a test).
Here a single tokenizing regular expression reads the text and a small matcher evaluates wildcards
without regular expressions; ``tests/test_claims_matching.py`` holds both readings to one table of
cases and to each other under fuzzing.

The language: ``claims['<name>'] eq|matches '<value>'`` joined by ``and``; ``\\'`` and ``\\\\`` escape a
quote and a backslash in a value; ``matches`` knows ``*`` (any run) and ``?`` (one character).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

MAX_LENGTH = 600
_TOKENS = re.compile(
    r"""
    (?P<space>\s+)
  | claims\['(?P<claim>[A-Za-z0-9_.:/-]{1,64})'\]
  | (?P<word>eq|matches|and)(?=\s)
  | '(?P<value>(?:[^'\\]|\\.)*)'
    """,
    re.VERBOSE | re.DOTALL,
)


class InvalidExpression(ValueError):
    """What Graph answers 400 for (and what never trusts anything)."""


@dataclass(frozen=True)
class Rule:
    claim: str
    operator: str
    value: str


def _unescape(raw: str) -> str:
    out, index = [], 0
    while index < len(raw):
        if raw[index] == "\\" and index + 1 < len(raw) and raw[index + 1] in "'\\":
            out.append(raw[index + 1])
            index += 2
        else:
            out.append(raw[index])
            index += 1
    return "".join(out)


def read(text: Any) -> tuple[Rule, ...]:
    """The rules of an expression, or InvalidExpression."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_LENGTH:
        raise InvalidExpression("the expression must be a non-empty string of at most 600 characters")
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        found = _TOKENS.match(text, position)
        if found is None:
            raise InvalidExpression(f"unexpected text at position {position}")
        position = found.end()
        if found.group("space") is not None:
            continue
        kind = found.lastgroup or ""
        tokens.append((kind, found.group(kind)))
    rules: list[Rule] = []
    # claim word value (and claim word value)*
    for start in range(0, len(tokens), 4):
        chunk = tokens[start : start + 4]
        shape = [kind for kind, _ in chunk[:3]]
        if shape != ["claim", "word", "value"] or chunk[1][1] not in ("eq", "matches"):
            raise InvalidExpression("expected claims['<name>'] eq|matches '<value>'")
        rules.append(Rule(chunk[0][1], chunk[1][1], _unescape(chunk[2][1])))
        if len(chunk) == 4 and chunk[3] != ("word", "and"):
            raise InvalidExpression("expected 'and' between comparisons")
        if len(chunk) == 4 and start + 4 >= len(tokens):
            raise InvalidExpression("'and' must be followed by a comparison")
    if not rules:
        raise InvalidExpression("the expression has no comparison")
    return tuple(rules)


def wildcard_match(pattern: str, text: str) -> bool:
    """``*`` any run of characters, ``?`` exactly one; everything else literally (no regex)."""
    p = t = 0
    star, resume = -1, 0
    while t < len(text):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p, t = p + 1, t + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume = p, t
            p += 1
        elif star != -1:
            p, resume = star + 1, resume + 1
            t = resume
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def satisfied(rules: tuple[Rule, ...], claims: Mapping[str, Any]) -> bool:
    for rule in rules:
        actual = claims.get(rule.claim)
        if not isinstance(actual, str):
            return False
        if rule.operator == "eq" and actual != rule.value:
            return False
        if rule.operator == "matches" and not wildcard_match(rule.value, actual):
            return False
    return True


def pins(rules: tuple[Rule, ...], claim: str) -> bool:
    """Whether the rules require ``claim`` to equal one exact value (``eq``)."""
    return any(rule.claim == claim and rule.operator == "eq" for rule in rules)
