"""FederatedTokenCredential against the HTTPS sandbox, through real MSAL: the behaviour list of issue 3."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterator, List

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ChainedTokenCredential, CredentialUnavailableError
from helpers import CountingAssertion, VirtualClock, claims_of, pod_environment, wait_until

from azure_wif_credential import FederatedTokenCredential, TokenExchangeError
from azure_wif_credential._policy import RefreshPolicy
from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:default:web"
STORAGE = "https://storage.azure.com/.default"
GRAPH = "https://graph.microsoft.com/.default"


@pytest.fixture
def app(sandbox: Sandbox) -> Any:
    return sandbox.register_app(subject=SUBJECT)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def make_credential(
    sandbox: Sandbox, app: Any, clock: VirtualClock
) -> Iterator[Callable[..., FederatedTokenCredential]]:
    """Credentials for the test's app on the test's virtual clock (``clock``): the refresh windows
    are reached by moving the clock, not by sleeping."""
    made: List[FederatedTokenCredential] = []

    def make(**kwargs: Any) -> FederatedTokenCredential:
        kwargs.setdefault("refresh_policy", RefreshPolicy(clock=clock))
        kwargs.setdefault("authority", sandbox.authority)
        kwargs.setdefault("connection_verify", sandbox.ca_file)
        kwargs.setdefault("retry_total", 0)
        if "assertion" not in kwargs and "token_file" not in kwargs:
            kwargs["assertion"] = CountingAssertion(sandbox)
        credential = FederatedTokenCredential(
            kwargs.pop("tenant_id", app.tenant_id), kwargs.pop("client_id", app.client_id), **kwargs
        )
        made.append(credential)
        return credential

    yield make
    for credential in made:
        credential.close()


# --- the exchange ------------------------------------------------------------------------------


def test_get_token_exchanges_the_assertion_for_an_entra_token(
    sandbox: Sandbox, app: Any, make_credential: Callable[..., FederatedTokenCredential]
) -> None:
    token = make_credential().get_token(STORAGE)
    assert isinstance(token, AccessToken)
    claims = sandbox.verify_access_token(token.token)
    assert claims["aud"] == "https://storage.azure.com"
    assert claims["tid"] == app.tenant_id
    assert claims["appid"] == app.client_id
    assert abs(token.expires_on - claims["exp"]) <= 2


def test_get_token_info_reports_refresh_on_from_the_sts_refresh_in(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential], clock: VirtualClock
) -> None:
    sandbox.refresh_in = 1800
    before = int(clock.now)
    info = make_credential().get_token_info(STORAGE)
    assert isinstance(info, AccessTokenInfo)
    assert info.token_type == "Bearer"
    assert info.refresh_on is not None
    assert before + 1798 <= info.refresh_on <= int(clock.now) + 1801


def test_refresh_on_without_refresh_in_is_ahead_of_expiry(
    make_credential: Callable[..., FederatedTokenCredential],
) -> None:
    info = make_credential().get_token_info(STORAGE)
    assert info.refresh_on is not None
    lifetime = info.expires_on - time.time()
    assert info.refresh_on <= info.expires_on - 300
    assert info.refresh_on >= info.expires_on - lifetime / 2 - 2


def test_construction_does_no_network_io(sandbox: Sandbox, app: Any) -> None:
    credential = FederatedTokenCredential(
        app.tenant_id, app.client_id, assertion=lambda: "x", authority=sandbox.authority
    )
    credential.close()
    total = sum(
        sandbox.request_count(e) for e in ("token", "openid-configuration", "keys", "instance-discovery")
    )
    assert total == 0


def test_a_fresh_cache_hit_touches_neither_msal_nor_the_source(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential]
) -> None:
    source = CountingAssertion(sandbox)
    credential = make_credential(assertion=source)
    first = credential.get_token(STORAGE)
    for _ in range(50):
        assert credential.get_token(STORAGE).token == first.token
        assert credential.get_token_info(STORAGE).token == first.token
    assert sandbox.request_count("token") == 1
    assert source.calls == 1
    credential.get_token(GRAPH)
    assert sandbox.request_count("token") == 2, "another scope is another key"


def test_concurrent_callers_of_a_cold_key_cause_one_request_and_one_assertion(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential]
) -> None:
    source = CountingAssertion(sandbox)
    credential = make_credential(assertion=source)
    sandbox.set_latency(0.2)
    barrier = threading.Barrier(32)
    tokens: List[str] = []

    def call() -> None:
        barrier.wait()
        tokens.append(credential.get_token(STORAGE).token)

    threads = [threading.Thread(target=call) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tokens) == 32 and len(set(tokens)) == 1
    assert sandbox.request_count("token") == 1
    assert source.calls == 1


# --- refresh windows ---------------------------------------------------------------------------


def into_advisory(clock: VirtualClock, info: AccessTokenInfo) -> None:
    assert info.refresh_on is not None
    clock.now = info.refresh_on + 1  # advisory: from refresh_on until 2 minutes before expiry


def test_advisory_window_serves_the_cached_token_while_one_background_refresh_runs(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential], clock: VirtualClock
) -> None:
    credential = make_credential()
    old = credential.get_token(STORAGE).token
    into_advisory(clock, credential.get_token_info(STORAGE))
    sandbox.set_latency(0.5)
    seen = [credential.get_token(STORAGE).token for _ in range(20)]
    assert seen == [old] * 20, "callers in the advisory window get the cached token at once"
    wait_until(lambda: credential.get_token(STORAGE).token != old)
    assert sandbox.request_count("token") == 2, "exactly one background refresh"


def test_advisory_refresh_failure_keeps_serving_cached_token(
    sandbox: Sandbox,
    make_credential: Callable[..., FederatedTokenCredential],
    caplog: pytest.LogCaptureFixture,
    clock: VirtualClock,
) -> None:
    source = CountingAssertion(sandbox)
    credential = make_credential(assertion=source)
    old = credential.get_token(STORAGE).token
    into_advisory(clock, credential.get_token_info(STORAGE))
    sandbox.fail_next(5, status=503)
    with caplog.at_level(logging.WARNING, logger="azure_wif_credential"):
        assert credential.get_token(STORAGE).token == old
        wait_until(lambda: any("keeping the cached token" in r.getMessage() for r in caplog.records))
        for _ in range(20):
            assert credential.get_token(STORAGE).token == old
    assert sandbox.request_count("token") == 2, "backoff: no second attempt right after a failure"
    assert all(t not in caplog.text for t in [old, *source.issued])


@pytest.mark.parametrize("fault", ["status-429", "status-500", "status-400", "drop"])
def test_every_kind_of_advisory_failure_keeps_the_old_token(
    sandbox: Sandbox,
    make_credential: Callable[..., FederatedTokenCredential],
    fault: str,
    clock: VirtualClock,
) -> None:
    credential = make_credential()
    old = credential.get_token(STORAGE).token
    into_advisory(clock, credential.get_token_info(STORAGE))
    if fault == "drop":
        sandbox.drop_next(1)
    else:
        sandbox.fail_next(1, status=int(fault.split("-")[1]), retry_after=1)
    assert credential.get_token(STORAGE).token == old
    wait_until(lambda: sandbox.request_count("token") == 2)
    for _ in range(10):
        assert credential.get_token(STORAGE).token == old


def test_mandatory_window_callers_wait_for_one_refresh_and_share_it(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential], clock: VirtualClock
) -> None:
    source = CountingAssertion(sandbox)
    credential = make_credential(assertion=source)
    old = credential.get_token(STORAGE)
    clock.now = old.expires_on - 60  # mandatory: the last 2 minutes
    sandbox.set_latency(0.3)
    barrier = threading.Barrier(8)
    tokens: List[str] = []

    def call() -> None:
        barrier.wait()
        tokens.append(credential.get_token(STORAGE).token)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1 and tokens[0] != old.token
    assert sandbox.request_count("token") == 2
    assert source.calls == 2


def test_mandatory_refresh_failure_reaches_every_waiter_as_one_error(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential], clock: VirtualClock
) -> None:
    credential = make_credential()
    sandbox.set_latency(0.3)
    sandbox.fail_next(1, status=500)
    barrier = threading.Barrier(6)
    errors: List[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            credential.get_token(STORAGE)
        except ClientAuthenticationError as error:
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 6 and len({id(e) for e in errors}) == 1
    assert isinstance(errors[0], TokenExchangeError) and errors[0].retryable
    assert sandbox.request_count("token") == 1
    sandbox.set_latency(0)
    clock.advance(RefreshPolicy().hold_max)  # past the key's hold after the failure
    assert credential.get_token(STORAGE).token, "the next call tries again"


# --- tenants, CAE, claims ----------------------------------------------------------------------


def test_tenant_per_call_must_be_configured_or_allowed(
    sandbox: Sandbox, app: Any, make_credential: Callable[..., FederatedTokenCredential]
) -> None:
    other = sandbox.register_app(subject=SUBJECT, client_id=app.client_id, tenant_id="contoso.example")
    assert other.client_id == app.client_id
    strict = make_credential()
    assert strict.get_token(STORAGE, tenant_id=app.tenant_id)
    with pytest.raises(ClientAuthenticationError, match="additionally_allowed_tenants"):
        strict.get_token(STORAGE, tenant_id="contoso.example")
    allowed = make_credential(additionally_allowed_tenants=["contoso.example"])
    assert (
        claims_of(allowed.get_token(STORAGE, tenant_id="contoso.example").token)["tid"] == "contoso.example"
    )
    anyone = make_credential(additionally_allowed_tenants=["*"])
    info = anyone.get_token_info(STORAGE, options={"tenant_id": "contoso.example"})
    assert claims_of(info.token)["tid"] == "contoso.example"


@pytest.mark.parametrize("tenant", ["", "bad tenant", "a/b", "x?y"])
def test_invalid_tenant_ids_are_a_value_error_at_construction(sandbox: Sandbox, tenant: str) -> None:
    with pytest.raises(ValueError, match="tenant"):
        FederatedTokenCredential(tenant, "client", assertion=lambda: "x", authority=sandbox.authority)


@pytest.mark.parametrize("authority", ["http://127.0.0.1:1", "http://login.microsoftonline.com"])
def test_authority_must_be_https(authority: str) -> None:
    with pytest.raises(ValueError, match="https"):
        FederatedTokenCredential("tenant", "client", assertion=lambda: "x", authority=authority)


def test_exactly_one_of_assertion_and_token_file() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        FederatedTokenCredential("tenant", "client")
    with pytest.raises(ValueError, match="exactly one"):
        FederatedTokenCredential("tenant", "client", assertion=lambda: "x", token_file="/tmp/x")


def test_unknown_keyword_arguments_are_an_error_with_a_suggestion() -> None:
    with pytest.raises(TypeError, match="connection_verify"):
        FederatedTokenCredential("tenant", "client", assertion=lambda: "x", conection_verify="x.pem")


def test_enable_cae_requests_cp1_in_a_separate_cache_entry(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential]
) -> None:
    credential = make_credential()
    plain = credential.get_token(STORAGE)
    cae = credential.get_token(STORAGE, enable_cae=True)
    assert "xms_cc" not in claims_of(plain.token)
    assert claims_of(cae.token)["xms_cc"] == ["CP1"]
    assert credential.get_token_info(STORAGE, options={"enable_cae": True}).token == cae.token
    assert sandbox.request_count("token") == 2


def test_a_claims_challenge_bypasses_the_cache_and_its_token_replaces_the_entry(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential]
) -> None:
    credential = make_credential()
    old = credential.get_token(STORAGE, enable_cae=True)
    challenge = '{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}'
    new = credential.get_token(STORAGE, enable_cae=True, claims=challenge)
    again = credential.get_token(STORAGE, enable_cae=True, claims=challenge)
    assert len({old.token, new.token, again.token}) == 3
    assert sandbox.request_count("token") == 3
    assert credential.get_token(STORAGE, enable_cae=True).token == again.token


# --- the token file and the callback ------------------------------------------------------------


def test_token_file_is_reread_when_rotated_and_stripped(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential], tmp_path: Any
) -> None:
    path = tmp_path / "token"
    path.write_text("\n  " + sandbox.issue_assertion(subject=SUBJECT) + "  \n")
    credential = make_credential(token_file=str(path))
    assert credential.get_token(STORAGE)
    path.write_text(sandbox.issue_assertion(subject="someone-else"))
    with pytest.raises(TokenExchangeError) as caught:
        credential.get_token(GRAPH)
    assert "someone-else" in str(caught.value), "the rotated file was read"


@pytest.mark.parametrize("case", ["missing", "empty", "directory"])
def test_an_unusable_token_file_is_credential_unavailable_naming_path_and_reason(
    make_credential: Callable[..., FederatedTokenCredential], tmp_path: Any, case: str
) -> None:
    path = tmp_path / "token"
    if case == "empty":
        path.write_text("  \n")
    elif case == "directory":
        path.mkdir()
    credential = make_credential(token_file=str(path))
    with pytest.raises(CredentialUnavailableError) as caught:
        credential.get_token(STORAGE)
    assert str(path) in str(caught.value)
    assert {"missing": "does not exist", "empty": "is empty", "directory": "is a directory"}[case] in str(
        caught.value
    )


def test_credential_unavailable_from_the_callback_passes_through(
    make_credential: Callable[..., FederatedTokenCredential],
) -> None:
    def source() -> str:
        raise CredentialUnavailableError(message="not in CI")

    with pytest.raises(CredentialUnavailableError, match="not in CI"):
        make_credential(assertion=source).get_token(STORAGE)


def test_any_other_callback_error_becomes_client_authentication_error_with_the_cause(
    make_credential: Callable[..., FederatedTokenCredential],
) -> None:
    def source() -> str:
        raise FileNotFoundError(2, "No such file", "/var/run/token")

    with pytest.raises(ClientAuthenticationError) as caught:
        make_credential(assertion=source).get_token(STORAGE)
    assert not isinstance(caught.value, CredentialUnavailableError)
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert "FileNotFoundError" in str(caught.value)


# --- from_environment and chains ---------------------------------------------------------------


def test_from_environment_without_variables_is_unavailable_and_a_chain_moves_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    credential = FederatedTokenCredential.from_environment()
    with pytest.raises(CredentialUnavailableError) as caught:
        credential.get_token(STORAGE)
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        assert name in str(caught.value)

    class Static:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("static", int(time.time()) + 3600)

    assert ChainedTokenCredential(credential, Static()).get_token(STORAGE).token == "static"


def test_from_environment_with_a_token_file_works_and_a_rejection_stops_the_chain(
    sandbox: Sandbox, app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    path = tmp_path / "token"
    path.write_text(sandbox.issue_assertion(subject=SUBJECT))
    monkeypatch.setenv("AZURE_TENANT_ID", app.tenant_id)
    monkeypatch.setenv("AZURE_CLIENT_ID", app.client_id)
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(path))
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", sandbox.authority)
    with FederatedTokenCredential.from_environment(connection_verify=sandbox.ca_file) as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token)["appid"] == app.client_id
    path.write_text(sandbox.issue_assertion(subject="not-trusted"))
    with FederatedTokenCredential.from_environment(connection_verify=sandbox.ca_file) as credential:

        class Never:
            def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
                raise AssertionError("the chain must stop at a rejected exchange")

        with pytest.raises(ClientAuthenticationError):
            ChainedTokenCredential(credential, Never()).get_token(STORAGE)


def test_from_environment_reads_additionally_allowed_tenants_like_azure_identity(
    sandbox: Sandbox, app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    sandbox.register_app(subject=SUBJECT, client_id=app.client_id, tenant_id="fabrikam.example")
    pod_environment(
        monkeypatch,
        sandbox,
        app,
        tmp_path / "token",
        subject=SUBJECT,
        AZURE_AUTHORITY_HOST=sandbox.authority,
        AZURE_ADDITIONALLY_ALLOWED_TENANTS="other.example; fabrikam.example",
    )
    with FederatedTokenCredential.from_environment(connection_verify=sandbox.ca_file) as credential:
        token = credential.get_token(STORAGE, tenant_id="fabrikam.example")
        assert claims_of(token.token)["tid"] == "fabrikam.example"
        with pytest.raises(ClientAuthenticationError, match="additionally_allowed_tenants"):
            credential.get_token(STORAGE, tenant_id="contoso.example")


# --- errors that explain -----------------------------------------------------------------------


def test_a_federated_credential_mismatch_names_the_presented_issuer_subject_and_audience(
    sandbox: Sandbox, app: Any, make_credential: Callable[..., FederatedTokenCredential]
) -> None:
    source = CountingAssertion(sandbox, subject="system:serviceaccount:prod:api")
    with pytest.raises(TokenExchangeError) as caught:
        make_credential(assertion=source).get_token(STORAGE)
    error = caught.value
    assert 70021 in error.error_codes or {700211, 700212, 700213} & set(error.error_codes)
    assert error.correlation_id and error.correlation_id in str(error)
    message = str(error)
    for expected in (
        sandbox.issuer,
        "system:serviceaccount:prod:api",
        "api://AzureADTokenExchange",
        app.client_id,
    ):
        assert expected in message
    assert source.issued[0] not in message and source.issued[0] not in repr(error)


def test_an_expired_assertion_explains_the_time_range(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential]
) -> None:
    now = int(time.time())
    source = CountingAssertion(sandbox, iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    with pytest.raises(TokenExchangeError) as caught:
        make_credential(assertion=source).get_token(STORAGE)
    assert 700024 in caught.value.error_codes
    assert "expired" in str(caught.value) and "stale" in str(caught.value)


def test_an_unknown_client_explains_the_client_tenant_pair(
    sandbox: Sandbox, app: Any, make_credential: Callable[..., FederatedTokenCredential]
) -> None:
    with pytest.raises(TokenExchangeError) as caught:
        make_credential(client_id="11111111-2222-3333-4444-555555555555").get_token(STORAGE)
    assert 700016 in caught.value.error_codes
    assert "11111111-2222-3333-4444-555555555555" in str(caught.value) and app.tenant_id in str(caught.value)


# --- transport: verify, timeouts, dropped connections -------------------------------------------


def test_connection_verify_wins_over_requests_ca_bundle(
    sandbox: Sandbox,
    make_credential: Callable[..., FederatedTokenCredential],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    assert make_credential().get_token(STORAGE).token


def test_a_slow_sts_times_out_with_a_retryable_error_instead_of_hanging(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential]
) -> None:
    credential = make_credential(read_timeout=0.2)
    credential.get_token(GRAPH)  # discovery done; now only the token POST is slow
    sandbox.set_latency(1)
    with pytest.raises(TokenExchangeError) as caught:
        credential.get_token(STORAGE)
    assert caught.value.retryable
    assert "Could not reach" in str(caught.value)
    time.sleep(1)  # let the sandbox finish the abandoned request before the next test


def test_a_dropped_connection_is_retried_by_the_pipeline(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential]
) -> None:
    credential = make_credential(retry_total=2, retry_backoff_factor=0.01)
    credential.get_token(GRAPH)
    sandbox.drop_next(1)
    assert credential.get_token(STORAGE).token
    assert sandbox.request_count("token") == 3


# --- no secrets, clean shutdown ------------------------------------------------------------------


def test_no_assertion_or_token_in_any_log_line_even_with_logging_enable(
    sandbox: Sandbox,
    make_credential: Callable[..., FederatedTokenCredential],
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = CountingAssertion(sandbox)
    with caplog.at_level(logging.DEBUG):
        credential = make_credential(assertion=source, logging_enable=True)
        token = credential.get_token(STORAGE).token
    text = caplog.text
    assert source.issued and source.issued[0] not in text
    assert token not in text
    assert "client_assertion=<redacted>" in text, "the network log ran, redacted"
    assert f"sub={SUBJECT}" in text, "the assertion's claims are logged at DEBUG"
    assert "refresh_on=" in text
    assert token not in repr(credential) and source.issued[0] not in repr(credential)


def test_close_ends_background_threads_and_a_later_call_reopens(
    sandbox: Sandbox, make_credential: Callable[..., FederatedTokenCredential], clock: VirtualClock
) -> None:
    credential = make_credential()
    into_advisory(clock, credential.get_token_info(STORAGE))
    credential.get_token(STORAGE)  # starts a background refresh
    credential.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("azure-wif-refresh")]
    token = credential.get_token("https://vault.azure.net/.default")  # reopens, as azure-identity's would
    assert sandbox.verify_access_token(token.token)["aud"] == "https://vault.azure.net"
