"""Fuzzing (hypothesis) of what arrives from outside: STS bodies and fields, token-file contents,
claims challenges and tenant strings. Only our typed errors may escape, and whatever is accepted
satisfies the invariants. AZURE_WIF_FUZZ_EXAMPLES sets the examples per target (default 500)."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path
from typing import Any, Callable

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azure_wif_credential import TokenExchangeError
from azure_wif_credential._config import validate_tenant_id
from azure_wif_credential._errors import error_from_entra
from azure_wif_credential._inputs import checked_assertion, checked_claims
from azure_wif_credential._msal._answers import EntraErrorAnswer, check_token_answer, rejected_error_answer
from azure_wif_credential._pipeline import Answer
from azure_wif_credential.assertions import FileAssertion
from azure_wif_credential.sandbox import Sandbox

from .conftest import STORAGE, Driver

EXAMPLES = int(os.environ.get("AZURE_WIF_FUZZ_EXAMPLES", "500"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
AUTHORITY = "https://login.example"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.from_regex(r"\s*-?\d{0,15}(\.\d{0,12})?\s*", fullmatch=True),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
token_documents = st.fixed_dictionaries(
    {},
    optional={
        "access_token": st.one_of(json_values, st.text(string.printable, min_size=1, max_size=60)),
        "expires_in": json_values,
        "refresh_in": json_values,
        "token_type": st.one_of(json_values, st.sampled_from(["Bearer", "bearer", "BEARER", "pop"])),
        "expires_on": json_values,
        "error_codes": json_values,
        "error": json_values,
        "error_description": json_values,
    },
)


def _body(document: Any) -> bytes:
    return json.dumps(document, allow_nan=True).encode()


bodies = st.one_of(st.binary(max_size=200), token_documents.map(_body), json_values.map(_body))


@FUZZ
@given(status=st.sampled_from([200, 200, 200, 302, 400, 401, 429, 500, 503]), body=bodies)
def test_any_sts_answer_is_a_valid_token_or_a_typed_error(status: int, body: bytes) -> None:
    answer = Answer(status, "", {"Content-Type": "application/json"}, body)
    try:
        normalized = check_token_answer(answer, AUTHORITY)
    except TokenExchangeError as error:
        assert str(error)
        return
    except EntraErrorAnswer as rejected:
        explained = error_from_entra(rejected.document, {}, tenant_id="t", client_id="c", status_code=status)
        assert isinstance(explained, TokenExchangeError)
        assert all(isinstance(code, int) for code in explained.error_codes)
        return
    assert status == 200
    document = json.loads(normalized)
    assert isinstance(document["access_token"], str) and document["access_token"]
    assert isinstance(document["expires_in"], int) and document["expires_in"] > 0
    assert "refresh_in" not in document or 0 < document["refresh_in"] <= document["expires_in"]


@FUZZ
@given(status=st.integers(min_value=300, max_value=599), body=bodies)
def test_any_error_answer_is_described_never_raised_raw(status: int, body: bytes) -> None:
    outcome = rejected_error_answer(Answer(status, "Reason", {}, body), AUTHORITY)
    assert isinstance(outcome, (TokenExchangeError, EntraErrorAnswer))


@FUZZ
@given(content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_token_file_content_is_an_assertion_or_a_typed_error(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(content)
    try:
        value = FileAssertion(path)()
        assertion = checked_assertion(value)
    except (CredentialUnavailableError, ClientAuthenticationError) as error:
        assert str(error)
        return
    assert (
        assertion
        and assertion == assertion.strip()
        and all(c.isascii() and c.isprintable() for c in assertion)
    )


@FUZZ
@given(claims=st.one_of(st.text(max_size=60), json_values.map(json.dumps), st.integers(), st.none()))
def test_any_claims_value_is_accepted_as_a_json_object_or_refused_clearly(claims: Any) -> None:
    try:
        checked = checked_claims(claims)
    except (ValueError, TypeError) as error:
        assert "claims" in str(error)
        return
    assert checked is None or isinstance(json.loads(checked), dict)


@FUZZ
@given(tenant=st.one_of(st.text(max_size=40), st.from_regex(r"[a-z0-9.\-]{1,20}", fullmatch=True)))
def test_any_tenant_string_is_path_safe_or_refused(tenant: str) -> None:
    try:
        validate_tenant_id(tenant)
    except ValueError as error:
        assert "tenant_id" in str(error)
        return
    assert (
        "/" not in tenant and ".." not in tenant and not tenant.startswith(".") and not tenant.endswith(".")
    )
    assert all(c.isascii() and (c.isalnum() or c in "-.") for c in tenant)


@settings(max_examples=max(25, EXAMPLES // 10), deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies)
def test_through_msal_only_typed_errors_escape(
    body: bytes, sandbox: Sandbox, make_driver: Callable[..., Driver]
) -> None:
    driver = make_driver("sync")
    sandbox.answer_next(status=200, body=body)
    try:
        token = driver.get_token(STORAGE)
    except TokenExchangeError:
        return
    assert token.token and token.expires_on > 0
    driver.close()


pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
