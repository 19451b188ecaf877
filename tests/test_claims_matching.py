"""The client's claimsMatchingExpression parser (trust._expressions) and the sandbox's own reading
(sandbox._claims_matching) are two implementations of one language: one table of cases holds both to
the expected answer, and hypothesis holds them to each other on expressions nobody wrote down."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azure_wif_credential.testing.sandbox import _claims_matching as sandbox_side
from azure_wif_credential.trust import _expressions as client_side

CLAIMS = {"sub": "repo:contoso/app:ref:refs/heads/main", "repository_owner_id": "1234", "aud": "x", "n": 5}

#: expression -> True/False (valid, and whether CLAIMS match) or None (invalid).
CASES: Dict[str, Optional[bool]] = {
    "claims['sub'] eq 'repo:contoso/app:ref:refs/heads/main'": True,
    "claims['sub'] eq 'repo:contoso/app:ref:refs/heads/MAIN'": False,
    "claims['sub'] matches 'repo:contoso/*'": True,
    "claims['sub'] matches 'repo:contoso/ap?:*'": True,
    "claims['sub'] matches 'repo:contoso/a?:*'": False,
    "claims['sub'] matches '*'": True,
    "claims['sub'] matches ''": False,
    "claims['sub'] matches 'repo:*:ref:refs/heads/*' and claims['repository_owner_id'] eq '1234'": True,
    "claims['sub'] matches 'repo:*' and claims['repository_owner_id'] eq '999'": False,
    "claims['missing'] eq ''": False,
    "claims['n'] eq '5'": False,  # a claim that is not a string never matches
    "claims['sub'] matches 'repo:contoso/app:ref:refs/heads/main'": True,
    "claims['sub'] matches 'repo.contoso*'": False,  # '.' is literal
    "claims['aud'] eq 'x'": True,
    "  claims['aud']   eq   'x'  ": True,
    "claims['aud']eq 'x'": True,
    "claims['aud'] eq 'x'and claims['aud'] eq 'x'": True,
    "claims['aud'] eq 'it\\'s'": False,
    "claims['aud'] eq 'a\\\\b'": False,
    "claims['aud'] eq 'x\\y'": False,
    "": None,
    "   ": None,
    "claims['aud'] eq x": None,
    "claims['aud'] eq'x'": None,
    "claims['aud'] == 'x'": None,
    "claims['aud'] eq 'x' and": None,
    "claims['aud'] eq 'x' or claims['aud'] eq 'y'": None,
    "claims['aud'] eq 'x' andclaims['aud'] eq 'y'": None,
    "claims[\"aud\"] eq 'x'": None,
    "claims['a b'] eq 'x'": None,
    "claims['aud'] eq 'unterminated": None,
    "claims['aud'] eq 'x\\'": None,
    "claims['" + "a" * 65 + "'] eq 'x'": None,
    "claims['aud'] eq '" + "x" * 600 + "'": None,
}


def client(expression: Any, claims: Dict[str, Any]) -> Optional[bool]:
    try:
        parsed = client_side.parse(expression)
    except client_side.ExpressionError:
        return None
    return parsed.matches(claims)


def sandbox(expression: Any, claims: Dict[str, Any]) -> Optional[bool]:
    try:
        rules = sandbox_side.read(expression)
    except sandbox_side.InvalidExpression:
        return None
    return sandbox_side.satisfied(rules, claims)


@pytest.mark.parametrize("expression", list(CASES))
def test_both_readings_give_the_expected_answer(expression: str) -> None:
    assert client(expression, CLAIMS) == CASES[expression], "the client's parser"
    assert sandbox(expression, CLAIMS) == CASES[expression], "the sandbox's own reading"


def test_both_agree_on_what_pins_a_claim() -> None:
    text = "claims['sub'] matches 'repo:*' and claims['repository_owner_id'] eq '1234'"
    parsed, rules = client_side.parse(text), sandbox_side.read(text)
    for claim in ("sub", "repository_owner_id", "repository_id"):
        assert parsed.pins(claim) == sandbox_side.pins(rules, claim)


ALPHABET = st.sampled_from(
    [*list("ab*?'\\ .:/-_"), "claims['sub']", "claims['x']", " eq ", " matches ", " and "]
)
VALUES = st.text(alphabet=st.sampled_from(list("ab*?\\'. ")), max_size=8)


@st.composite
def expressions(draw: Any) -> str:
    if draw(st.booleans()):  # free-form token soup: mostly invalid, probing the edges
        return "".join(draw(st.lists(ALPHABET, max_size=12)))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        claim = draw(st.sampled_from(["sub", "x", "repository_owner_id"]))
        operator = draw(st.sampled_from(["eq", "matches"]))
        value = draw(VALUES).replace("\\", "\\\\").replace("'", "\\'")
        parts.append(f"claims['{claim}']{draw(st.sampled_from([' ', '  ', '']))}{operator} '{value}'")
    joiner: str = draw(st.sampled_from([" and ", "  and\t"]))
    return joiner.join(parts)


@settings(max_examples=1500, deadline=None)
@given(
    expressions(),
    st.dictionaries(
        st.sampled_from(["sub", "x", "repository_owner_id"]), st.text(alphabet="ab*?.'\\ ", max_size=8)
    ),
)
def test_the_two_readings_agree_on_anything(expression: str, claims: Dict[str, str]) -> None:
    assert client(expression, claims) == sandbox(expression, claims)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="ab*?", max_size=8), st.text(alphabet="ab", max_size=10))
def test_the_two_wildcard_matchers_agree(pattern: str, text: str) -> None:
    expected = client_side._wildcard(pattern).fullmatch(text) is not None
    assert sandbox_side.wildcard_match(pattern, text) == expected
