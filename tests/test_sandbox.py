"""The sandbox over raw HTTPS: Entra's documents, validation and error shapes, faults, records, lifecycle."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from azure_wif_credential.sandbox import CLIENT_ASSERTION_TYPE, App, Sandbox

STORAGE = "https://storage.azure.com/.default"


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(http: requests.Session, sandbox: Sandbox, path: str, **kwargs: Any) -> requests.Response:
    url = path if path.startswith("https://") else f"{sandbox.authority}{path}"
    return http.get(url, verify=sandbox.ca_file, timeout=10, **kwargs)


def request_token(
    http: requests.Session, sandbox: Sandbox, app: App, assertion: str | None = None, **fields: str
) -> requests.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": app.client_id,
        "scope": STORAGE,
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion if assertion is not None else sandbox.issue_assertion(),
    }
    form.update(fields)
    form = {name: value for name, value in form.items() if value != ""}
    url = f"{sandbox.authority}/{app.tenant_id}/oauth2/v2.0/token"
    return http.post(url, data=form, verify=sandbox.ca_file, timeout=10)


def aadsts(response: requests.Response) -> int:
    codes: list[int] = response.json()["error_codes"]
    return codes[0]


def forged_assertion(sandbox: Sandbox, *, kid: str | None = None, **claims: Any) -> str:
    """Claims the sandbox issuer would sign, signed by some other key (under the issuer's kid by default)."""
    genuine = sandbox.issue_assertion(**claims)
    header = jwt.get_unverified_header(genuine)
    payload = jwt.decode(genuine, options={"verify_signature": False})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(payload, other_key, algorithm="RS256", headers={"kid": kid or header["kid"]})


# --- Entra's documents ---------------------------------------------------------------------------


def test_discovery_document_points_at_the_sandbox_endpoints_for_the_tenant(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app()
    response = get(http, sandbox, f"/{app.tenant_id}/v2.0/.well-known/openid-configuration")

    assert response.status_code == 200
    document = response.json()
    base = f"{sandbox.authority}/{app.tenant_id}"
    assert document["issuer"] == f"{base}/v2.0"
    assert document["token_endpoint"] == f"{base}/oauth2/v2.0/token"
    assert document["authorization_endpoint"] == f"{base}/oauth2/v2.0/authorize"
    assert document["jwks_uri"] == f"{base}/discovery/v2.0/keys"
    assert sandbox.request_count("openid-configuration") == 1


def test_discovery_for_an_unknown_tenant_is_rejected_with_aadsts90002(
    sandbox: Sandbox, http: requests.Session
) -> None:
    response = get(
        http, sandbox, "/00000000-0000-0000-0000-000000000001/v2.0/.well-known/openid-configuration"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_tenant"
    assert aadsts(response) == 90002


def test_instance_discovery_answers_for_its_own_host_only(sandbox: Sandbox, http: requests.Session) -> None:
    own = get(
        http,
        sandbox,
        "/common/discovery/instance",
        params={
            "api-version": "1.1",
            "authorization_endpoint": "https://127.0.0.1/contoso/oauth2/v2.0/authorize",
        },
    )
    foreign = get(
        http,
        sandbox,
        "/common/discovery/instance",
        params={
            "api-version": "1.1",
            "authorization_endpoint": "https://login.example.com/contoso/oauth2/v2.0/authorize",
        },
    )

    assert own.status_code == 200
    assert own.json()["tenant_discovery_endpoint"] == (
        f"{sandbox.authority}/contoso/v2.0/.well-known/openid-configuration"
    )
    assert own.json()["metadata"][0]["aliases"] == [sandbox.authority.removeprefix("https://")]
    assert foreign.status_code == 400
    assert foreign.json()["error"] == "invalid_instance"
    assert sandbox.request_count("instance-discovery") == 2


def test_access_token_verifies_against_the_published_jwks_and_carries_entra_v1_claims(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app()
    response = request_token(http, sandbox, app)
    assert response.status_code == 200, response.text
    body = response.json()
    document = get(http, sandbox, f"/{app.tenant_id}/v2.0/.well-known/openid-configuration").json()
    jwks = jwt.PyJWKSet.from_dict(get(http, sandbox, document["jwks_uri"]).json())
    kid = jwt.get_unverified_header(body["access_token"])["kid"]

    claims = jwt.decode(
        body["access_token"], jwks[kid].key, algorithms=["RS256"], audience="https://storage.azure.com"
    )

    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] == 3600
    assert "refresh_in" not in body
    assert claims["iss"] == f"https://sts.windows.net/{app.tenant_id}/"
    assert claims["tid"] == app.tenant_id
    assert claims["appid"] == app.client_id
    assert claims["idtyp"] == "app"
    assert claims["oid"] == claims["sub"] == app.object_id
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["nbf"] <= claims["iat"]
    assert "xms_cc" not in claims
    assert sandbox.verify_access_token(body["access_token"], audience="https://storage.azure.com") == claims


def test_token_lifetime_and_refresh_in_apply_to_the_next_response(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app()
    sandbox.token_lifetime = 7200
    sandbox.refresh_in = 3600

    body = request_token(http, sandbox, app).json()

    assert body["expires_in"] == 7200
    assert body["refresh_in"] == 3600
    claims = sandbox.verify_access_token(body["access_token"])
    assert claims["exp"] - claims["iat"] == 7200


def test_cp1_in_the_claims_parameter_puts_xms_cc_in_the_token(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app()
    body = request_token(
        http, sandbox, app, claims='{"access_token": {"xms_cc": {"values": ["CP1"]}}}'
    ).json()

    assert sandbox.verify_access_token(body["access_token"])["xms_cc"] == ["CP1"]


def test_server_certificate_is_valid_for_localhost_too(sandbox: Sandbox, http: requests.Session) -> None:
    url = f"https://localhost:{sandbox.port}/common/v2.0/.well-known/openid-configuration"

    assert get(http, sandbox, url).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        http.get(url, verify=True, timeout=10)  # the system's CAs don't know the sandbox's


def test_the_issuer_publishes_discovery_and_keys_that_verify_its_assertions(
    sandbox: Sandbox, http: requests.Session
) -> None:
    document = get(http, sandbox, f"{sandbox.issuer}/.well-known/openid-configuration").json()
    jwks = jwt.PyJWKSet.from_dict(get(http, sandbox, document["jwks_uri"]).json())
    assertion = sandbox.issue_assertion(subject="system:serviceaccount:ns:job", lifetime=60, team="blue")
    kid = jwt.get_unverified_header(assertion)["kid"]

    claims = jwt.decode(assertion, jwks[kid].key, algorithms=["RS256"], audience="api://AzureADTokenExchange")

    assert document["issuer"] == sandbox.issuer
    assert claims["iss"] == sandbox.issuer
    assert claims["sub"] == "system:serviceaccount:ns:job"
    assert claims["exp"] - claims["iat"] == 60
    assert claims["team"] == "blue"
    assert sandbox.request_count("issuer-openid-configuration") == 1
    assert sandbox.request_count("issuer-keys") == 1


def test_issue_assertion_overrides_defaults_and_leaves_out_claims_given_as_none(sandbox: Sandbox) -> None:
    assertion = sandbox.issue_assertion(iat=100, nbf=None, jti=None)

    claims = jwt.decode(assertion, options={"verify_signature": False})

    assert claims["iat"] == 100
    assert "nbf" not in claims
    assert "jti" not in claims


# --- validation at the token endpoint ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status", "error", "code"),
    [
        pytest.param({"grant_type": ""}, 400, "invalid_request", 900144, id="missing-grant-type"),
        pytest.param({"grant_type": "password"}, 400, "unsupported_grant_type", 70003, id="other-grant-type"),
        pytest.param({"scope": ""}, 400, "invalid_request", 900144, id="missing-scope"),
        pytest.param(
            {"client_assertion_type": ""}, 400, "invalid_request", 900144, id="missing-assertion-type"
        ),
        pytest.param(
            {"client_assertion_type": "urn:x"}, 401, "invalid_client", 70002, id="wrong-assertion-type"
        ),
        pytest.param({"client_assertion": ""}, 401, "invalid_client", 7000218, id="missing-assertion"),
        pytest.param({"client_secret": "s3cret"}, 401, "invalid_client", 7000215, id="client-secret"),
        pytest.param(
            {"scope": "https://storage.azure.com"}, 400, "invalid_scope", 1002012, id="scope-not-default"
        ),
        pytest.param(
            {"scope": f"{STORAGE} https://vault.azure.net/.default"},
            400,
            "invalid_scope",
            70011,
            id="two-resources",
        ),
        pytest.param({"claims": "{not json"}, 400, "invalid_request", 90100, id="bad-claims-parameter"),
    ],
)
def test_malformed_requests_get_entras_error_and_status(
    sandbox: Sandbox, http: requests.Session, fields: dict[str, str], status: int, error: str, code: int
) -> None:
    app = sandbox.register_app()
    response = request_token(http, sandbox, app, **fields)

    assert response.status_code == status
    assert response.json()["error"] == error
    assert aadsts(response) == code
    assert sandbox.recorded()[-1].error_code == code


def test_error_body_has_entras_shape_and_echoes_the_client_request_id(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app()
    url = f"{sandbox.authority}/{app.tenant_id}/oauth2/v2.0/token"
    form = {"grant_type": "client_credentials", "client_id": "unknown-app", "scope": STORAGE}

    response = http.post(
        url, data=form, headers={"client-request-id": "my-request-1"}, verify=sandbox.ca_file, timeout=10
    )

    body = response.json()
    assert response.status_code == 400
    assert response.headers["client-request-id"] == "my-request-1"
    assert body["error"] == "unauthorized_client"
    assert body["error_codes"] == [700016]
    assert body["correlation_id"] == "my-request-1"
    description = body["error_description"]
    assert description.startswith("AADSTS700016: Application with identifier 'unknown-app' was not found")
    lines = description.split("\r\n")
    assert lines[-3] == f"Trace ID: {body['trace_id']}"
    assert lines[-2] == "Correlation ID: my-request-1"
    assert lines[-1] == f"Timestamp: {body['timestamp']}"


def test_unknown_tenant_at_the_token_endpoint_is_aadsts90002(
    sandbox: Sandbox, http: requests.Session
) -> None:
    stranger = App(
        tenant_id="00000000-0000-0000-0000-00000000000f", client_id="00000000-0000-0000-0000-0000000000aa"
    )

    response = request_token(http, sandbox, stranger)

    assert response.status_code == 400
    assert aadsts(response) == 90002


def test_app_only_tokens_need_a_tenant_not_common(sandbox: Sandbox, http: requests.Session) -> None:
    app = sandbox.register_app()

    response = request_token(http, sandbox, App(tenant_id="common", client_id=app.client_id))

    assert aadsts(response) == 50059


@pytest.mark.parametrize(
    ("claims", "field"),
    [
        pytest.param({"iss": "https://issuer.example"}, "Issuer: 'https://issuer.example'", id="issuer"),
        pytest.param(
            {"sub": "system:serviceaccount:default:other"},
            "Subject: 'system:serviceaccount:default:other'",
            id="subject",
        ),
        pytest.param({"aud": "api://other"}, "Audience: 'api://other'", id="audience"),
    ],
)
def test_with_legacy_fic_errors_a_mismatch_is_aadsts70021_naming_what_was_presented(
    http: requests.Session, claims: dict[str, Any], field: str
) -> None:
    with Sandbox(legacy_fic_errors=True) as sandbox:
        app = sandbox.register_app()
        response = request_token(http, sandbox, app, sandbox.issue_assertion(**claims))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert aadsts(response) == 70021
    description = response.json()["error_description"]
    assert f"Assertion {field}" in description and "\r\nTrace ID: " in description


@pytest.mark.parametrize(
    ("claims", "code", "shown"),
    [
        pytest.param(
            {"iss": "https://issuer.example"}, 700211, "issuer 'https://issuer.example'", id="issuer"
        ),
        pytest.param(
            {"sub": "system:serviceaccount:default:other"},
            700213,
            "subject 'system:serviceaccount:default:other'",
            id="subject",
        ),
        pytest.param({"aud": "api://other"}, 700212, "audience 'api://other'", id="audience"),
        # Checked in Entra's order: the issuer first, then the subject, then the audience.
        pytest.param(
            {"iss": "https://issuer.example", "aud": "api://other"}, 700211, "issuer", id="issuer+aud"
        ),
        pytest.param({"sub": "other", "aud": "api://other"}, 700213, "subject 'other'", id="subject+aud"),
    ],
)
def test_a_mismatch_names_the_first_field_that_differs_in_one_line_as_entra_does_today(
    sandbox: Sandbox, http: requests.Session, claims: dict[str, Any], code: int, shown: str
) -> None:
    app = sandbox.register_app()

    response = request_token(http, sandbox, app, sandbox.issue_assertion(**claims))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert aadsts(response) == code
    description = response.json()["error_description"]
    assert description.startswith(
        f"AADSTS{code}: No matching federated identity record found for presented assertion {shown}"
    )
    assert "Check your federated identity credential Subject, Audience and Issuer" in description
    assert "\r" not in description and "\n" not in description and " Trace ID: " in description


def test_assertions_from_untrusted_issuers_cause_no_metadata_fetch(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app()

    request_token(http, sandbox, app, sandbox.issue_assertion(iss="https://issuer.example"))

    assert sandbox.request_count("issuer-openid-configuration") == 0


@pytest.mark.parametrize(
    "offsets",
    [
        pytest.param({"exp": -60}, id="expired"),
        pytest.param({"nbf": 600, "exp": 1200}, id="not-yet-valid"),
    ],
)
def test_assertion_outside_its_time_range_is_aadsts700024(
    sandbox: Sandbox, http: requests.Session, offsets: dict[str, int]
) -> None:
    app = sandbox.register_app()
    now = int(time.time())
    claims: dict[str, Any] = {name: now + offset for name, offset in offsets.items()}

    response = request_token(http, sandbox, app, sandbox.issue_assertion(**claims))

    assert response.status_code == 401
    assert aadsts(response) == 700024
    assert "Client assertion is not within its valid time range" in response.json()["error_description"]


def test_clock_skew_tolerates_a_just_expired_assertion(sandbox: Sandbox, http: requests.Session) -> None:
    app = sandbox.register_app()
    sandbox.clock_skew = 300

    response = request_token(http, sandbox, app, sandbox.issue_assertion(exp=int(time.time()) - 60))

    assert response.status_code == 200


def test_forged_assertion_signed_by_another_key_is_rejected(sandbox: Sandbox, http: requests.Session) -> None:
    app = sandbox.register_app()

    response = request_token(http, sandbox, app, forged_assertion(sandbox))

    assert response.status_code == 401
    assert aadsts(response) == 700027


def test_assertion_signed_by_an_unpublished_kid_is_rejected_after_refetching_the_jwks(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app()
    request_token(http, sandbox, app)  # caches the issuer's keys

    response = request_token(http, sandbox, app, forged_assertion(sandbox, kid="not-published"))

    assert aadsts(response) == 7000272
    assert sandbox.request_count("issuer-keys") == 2


def test_rotated_issuer_key_is_picked_up_by_refetching_the_jwks(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app()
    assert request_token(http, sandbox, app).status_code == 200
    sandbox.rotate_issuer_key()

    response = request_token(http, sandbox, app)

    assert response.status_code == 200
    assert sandbox.request_count("issuer-keys") == 2
    assert sandbox.request_count("issuer-openid-configuration") == 2


def test_issuer_keys_are_cached_between_requests(sandbox: Sandbox, http: requests.Session) -> None:
    app = sandbox.register_app()

    for _ in range(3):
        assert request_token(http, sandbox, app).status_code == 200

    assert sandbox.request_count("issuer-keys") == 1


@pytest.mark.parametrize(
    "assertion",
    [
        pytest.param("not-a-jwt", id="garbage"),
        pytest.param("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", id="alg-none"),
    ],
)
def test_malformed_assertion_is_aadsts50027(sandbox: Sandbox, http: requests.Session, assertion: str) -> None:
    app = sandbox.register_app()

    response = request_token(http, sandbox, app, assertion)

    assert response.status_code == 400
    assert aadsts(response) == 50027


def test_unreachable_issuer_metadata_is_aadsts50166(sandbox: Sandbox, http: requests.Session) -> None:
    app = sandbox.register_app()
    sandbox.fail_next(endpoint="issuer-keys", status=503)

    response = request_token(http, sandbox, app)

    assert aadsts(response) == 50166


def test_issuers_off_the_loopback_are_never_contacted(sandbox: Sandbox, http: requests.Session) -> None:
    issuer = "https://token.actions.githubusercontent.com"
    app = sandbox.register_app(issuer=issuer)

    response = request_token(http, sandbox, app, sandbox.issue_assertion(iss=issuer))

    assert aadsts(response) == 50166
    assert "loopback" in response.json()["error_description"]


def test_an_app_registered_in_two_tenants_gets_tokens_in_both(
    sandbox: Sandbox, http: requests.Session
) -> None:
    home = sandbox.register_app()
    guest = sandbox.register_app(tenant_id="11111111-2222-3333-4444-555555555555", client_id=home.client_id)
    sandbox.add_federated_credential(
        home.client_id, issuer=sandbox.issuer, subject="system:serviceaccount:ci:deploy"
    )

    for app in (home, guest):
        response = request_token(
            http, sandbox, app, sandbox.issue_assertion(subject="system:serviceaccount:ci:deploy")
        )
        assert response.status_code == 200
        assert sandbox.verify_access_token(response.json()["access_token"])["tid"] == app.tenant_id
    assert guest.client_id == home.client_id
    assert [r.tenant for r in sandbox.recorded()] == [home.tenant_id, guest.tenant_id]


def test_add_federated_credential_for_an_unknown_app_is_an_error(sandbox: Sandbox) -> None:
    with pytest.raises(KeyError, match="register_app"):
        sandbox.add_federated_credential("no-such-app", issuer=sandbox.issuer, subject="x")


def test_verify_access_token_rejects_tokens_it_did_not_sign(sandbox: Sandbox) -> None:
    forged = forged_assertion(sandbox, iss="https://sts.windows.net/t/", tid="t")

    with pytest.raises(jwt.InvalidTokenError):
        sandbox.verify_access_token(forged)


# --- faults and records --------------------------------------------------------------------------------


def test_fail_next_answers_the_next_requests_with_the_status_and_retry_after(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app()
    sandbox.fail_next(2, status=429, retry_after=7)

    first, second, third = (request_token(http, sandbox, app) for _ in range(3))

    for failed in (first, second):
        assert failed.status_code == 429
        assert failed.headers["Retry-After"] == "7"
        assert failed.json()["error_description"].startswith("AADSTS")
    assert third.status_code == 200
    assert "Retry-After" not in third.headers
    assert [r.status for r in sandbox.recorded()] == [429, 429, 200]


def test_fail_next_on_another_endpoint_leaves_the_token_endpoint_alone(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app()
    sandbox.fail_next(endpoint="openid-configuration", status=500)

    discovery = get(http, sandbox, f"/{app.tenant_id}/v2.0/.well-known/openid-configuration")
    token = request_token(http, sandbox, app)

    assert discovery.status_code == 500
    assert token.status_code == 200


def test_drop_next_closes_the_connection_without_a_response(sandbox: Sandbox, http: requests.Session) -> None:
    app = sandbox.register_app()
    sandbox.drop_next()

    with pytest.raises(requests.ConnectionError):
        request_token(http, sandbox, app)
    after = request_token(http, sandbox, app)

    assert after.status_code == 200
    assert [r.status for r in sandbox.recorded()] == [None, 200]


def test_latency_delays_answers_until_cleared(sandbox: Sandbox, http: requests.Session) -> None:
    app = sandbox.register_app()
    sandbox.set_latency(2.0)
    url = f"{sandbox.authority}/{app.tenant_id}/oauth2/v2.0/token"

    with pytest.raises(requests.ReadTimeout):
        http.post(url, data={}, verify=sandbox.ca_file, timeout=(10, 0.2))
    sandbox.set_latency(0)
    response = request_token(http, sandbox, app)

    assert response.status_code == 200


def test_latency_on_one_endpoint_is_at_least_the_given_delay(
    sandbox: Sandbox, http: requests.Session
) -> None:
    sandbox.set_latency(0.3, endpoint="keys")
    started = time.monotonic()

    get(http, sandbox, "/common/discovery/v2.0/keys")

    assert time.monotonic() - started >= 0.3


def test_records_count_per_endpoint_and_keep_bodies_only_when_asked(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app()
    request_token(http, sandbox, app)
    sandbox.record_bodies = True
    assertion = sandbox.issue_assertion()
    request_token(http, sandbox, app, assertion)

    without, with_body = sandbox.recorded("token")

    assert sandbox.request_count("token") == 2
    assert sandbox.request_count("keys") == 0
    assert (
        sandbox.request_count(None) == len(sandbox.recorded(None)) == 4
    )  # + the issuer's discovery and keys
    assert without.form is None
    assert with_body.form is not None
    assert with_body.form["client_assertion"] == assertion
    assert with_body.form["scope"] == STORAGE
    assert (with_body.endpoint, with_body.method, with_body.status) == ("token", "POST", 200)
    assert with_body.tenant == app.tenant_id
    assert with_body.client_id == app.client_id


def test_records_never_show_secrets_in_repr_or_str(sandbox: Sandbox, http: requests.Session) -> None:
    app = sandbox.register_app()
    sandbox.record_bodies = True
    assertion = sandbox.issue_assertion()
    url = f"{sandbox.authority}/{app.tenant_id}/oauth2/v2.0/token"
    http.post(
        url,
        data={"client_assertion": assertion, "assertion": "A" * 40, "access_token": "B" * 40},
        headers={"Authorization": "Bearer " + "C" * 40},
        verify=sandbox.ca_file,
        timeout=10,
    )

    record = sandbox.recorded()[-1]

    for text in (repr(record), str(record), repr(sandbox.recorded())):
        for secret in (assertion, "A" * 40, "B" * 40, "C" * 40):
            assert secret not in text
    assert "<redacted>" in repr(record)


def test_without_record_bodies_the_authorization_header_is_not_kept(
    sandbox: Sandbox, http: requests.Session
) -> None:
    get(http, sandbox, "/common/discovery/v2.0/keys", headers={"Authorization": "Bearer secret-value"})

    assert sandbox.recorded("keys")[0].headers["authorization"] == "<redacted>"


def test_reset_forgets_records_faults_and_latency(sandbox: Sandbox, http: requests.Session) -> None:
    app = sandbox.register_app()
    request_token(http, sandbox, app)
    sandbox.fail_next(3)
    sandbox.drop_next()
    sandbox.set_latency(30)

    sandbox.reset()

    assert sandbox.request_count() == 0
    assert request_token(http, sandbox, app).status_code == 200


def test_unknown_endpoint_names_are_errors(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="known endpoints"):
        sandbox.fail_next(endpoint="tokens")
    with pytest.raises(ValueError, match="known endpoints"):
        sandbox.request_count("Token")


def test_unknown_paths_and_methods(sandbox: Sandbox, http: requests.Session) -> None:
    assert get(http, sandbox, "/nowhere").status_code == 404
    assert get(http, sandbox, "/tenant/oauth2/v2.0/token").status_code == 405


# --- lifecycle ---------------------------------------------------------------------------------------------


def _threads_serving(port: int) -> list[str]:
    return [
        t.name for t in threading.enumerate() if t.name.startswith("sandbox-") and t.name.endswith(f"-{port}")
    ]


def test_stop_closes_kept_alive_connections_joins_threads_and_deletes_key_files() -> None:
    sandbox = Sandbox()
    with sandbox, requests.Session() as http:
        ca_file, authority, port = sandbox.ca_file, sandbox.authority, sandbox.port
        get(http, sandbox, "/common/discovery/v2.0/keys")  # leaves an idle keep-alive connection
        assert sorted(_threads_serving(port)) == [f"sandbox-connection-{port}", f"sandbox-https-{port}"]

    assert _threads_serving(port) == []
    assert not os.path.exists(os.path.dirname(ca_file))
    assert not sandbox.running
    with requests.Session() as http, pytest.raises(requests.ConnectionError):
        http.get(f"{authority}/common/discovery/v2.0/keys", verify=False, timeout=5)


def test_a_stopped_sandbox_says_it_is_not_running() -> None:
    sandbox = Sandbox()

    with pytest.raises(RuntimeError, match="not running"):
        _ = sandbox.authority
    sandbox.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            sandbox.start()
    finally:
        sandbox.stop()
    sandbox.stop()  # stopping twice is fine


def test_stop_interrupts_requests_waiting_on_injected_latency() -> None:
    outcome: list[str] = []
    sandbox = Sandbox().start()
    try:
        sandbox.set_latency(600, endpoint="keys")
        url, ca_file = f"{sandbox.authority}/common/discovery/v2.0/keys", sandbox.ca_file

        def client() -> None:
            with requests.Session() as http:
                try:
                    http.get(url, verify=ca_file, timeout=60)
                    outcome.append("answered")
                except requests.ConnectionError:
                    outcome.append("connection closed")

        waiting = threading.Thread(target=client)
        waiting.start()
        while sandbox.in_flight("keys") == 0:
            assert waiting.is_alive()
            time.sleep(0.01)
    finally:
        sandbox.stop()
    waiting.join(timeout=30)

    assert not waiting.is_alive()
    assert outcome == ["connection closed"]
    assert sandbox.in_flight("keys") == 0
    assert sandbox.request_count("keys") == 0  # never answered


def test_latency_holds_requests_in_flight_until_it_is_cleared(sandbox: Sandbox) -> None:
    app = sandbox.register_app()
    statuses: list[int] = []
    sandbox.set_latency(600)

    def client() -> None:
        with requests.Session() as http:
            statuses.append(request_token(http, sandbox, app).status_code)

    clients = [threading.Thread(target=client) for _ in range(3)]
    for thread in clients:
        thread.start()
    deadline = time.monotonic() + 30
    while sandbox.in_flight() < 3:
        assert time.monotonic() < deadline, "the requests never arrived"
        time.sleep(0.01)
    held = (sandbox.in_flight(), sandbox.request_count())
    sandbox.set_latency(0)
    for thread in clients:
        thread.join(timeout=30)

    assert held == (3, 0)
    assert statuses == [200, 200, 200]
    assert (sandbox.in_flight(), sandbox.request_count()) == (0, 3)


def test_http_client_trusts_the_sandbox_ca_whatever_the_environment_says(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens there

    with sandbox.http_client() as client:
        response = client.get(f"{sandbox.authority}/common/v2.0/.well-known/openid-configuration")

    assert response.status_code == 200
