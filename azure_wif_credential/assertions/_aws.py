"""AWS: IAM outbound identity federation, STS ``GetWebIdentityToken`` through botocore."""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, Optional

from azure.core.exceptions import ClientAuthenticationError

from .._errors import credential_unavailable, scrubbed
from .._redact import excerpt, remember, remember_opaque
from ._base import AudienceSource

_ALGORITHMS = ("RS256", "ES384")
#: What AWS's error codes mean for a user, and what to do.
_HINTS = {
    "OutboundWebIdentityFederationDisabledException": "outbound identity federation is not enabled for "
    "this AWS account: `aws iam enable-outbound-web-identity-federation` (once per account)",
    "AccessDenied": "the caller's IAM policy must allow sts:GetWebIdentityToken (and the audience, if the "
    "policy restricts sts:IdentityTokenAudience)",
    "AccessDeniedException": "the caller's IAM policy must allow sts:GetWebIdentityToken",
    "InvalidClientTokenId": "the AWS access key is not valid (check the profile or AWS_ACCESS_KEY_ID)",
    "ExpiredToken": "the AWS session credentials have expired: refresh them",
    "SessionDurationEscalationException": "duration_seconds exceeds what the caller's session allows",
}


class AwsWebIdentityAssertion(AudienceSource):
    """A JWT from AWS STS ``GetWebIdentityToken`` for the caller's AWS identity (``sub`` is its role
    ARN), with the audience Entra expects; asked afresh at each call.

    botocore's usual configuration applies: its credential chain (environment, profiles, SSO, the
    container and instance metadata services), region (``region=``, ``AWS_REGION``, the profile) and
    endpoint resolution (``AWS_ENDPOINT_URL_STS``, ``AWS_CA_BUNDLE``). The API is regional (not on the
    global endpoint): without a region a call raises CredentialUnavailableError saying so.

    :param audience: the ``aud``; by default the token-exchange audience for ``AZURE_AUTHORITY_HOST``'s cloud.
    :keyword region: the STS region (default: botocore's).
    :keyword signing_algorithm: ``"RS256"`` (default) or ``"ES384"``.
    :keyword duration_seconds: the token's lifetime, 60-3600 (default 300).
    :keyword session: a ``botocore.session.Session`` or ``boto3.Session`` (default: a new botocore one).
    Needs ``pip install azure-wif-credential[aws]``.
    """

    def __init__(
        self,
        audience: Optional[str] = None,
        *,
        region: Optional[str] = None,
        signing_algorithm: str = "RS256",
        duration_seconds: int = 300,
        session: Any = None,
    ) -> None:
        if signing_algorithm not in _ALGORITHMS:
            raise ValueError(
                f"signing_algorithm must be one of {', '.join(_ALGORITHMS)}, not {signing_algorithm!r}"
            )
        if isinstance(duration_seconds, bool) or not isinstance(duration_seconds, int):
            raise TypeError(
                f"duration_seconds must be a whole number of seconds, not {type(duration_seconds).__name__}"
            )
        if not 60 <= duration_seconds <= 3600:
            raise ValueError(f"duration_seconds must be between 60 and 3600, not {duration_seconds}")
        if region is not None and (not isinstance(region, str) or not region.strip()):
            raise ValueError("region must be an AWS region name such as 'us-east-1', or None")
        if session is not None and not callable(
            getattr(session, "create_client", getattr(session, "client", None))
        ):
            raise TypeError(f"session must be a botocore or boto3 Session, not {type(session).__name__}")
        self._choose_audience(audience)
        self._region, self._algorithm, self._duration = region, signing_algorithm, duration_seconds
        self._session = session
        self._client: Any = None
        self._client_session: Any = None
        self._lock = threading.Lock()

    def _described(self) -> Dict[str, Any]:
        return {"region": self._region, "signing_algorithm": self._algorithm}

    def _sts(self) -> Any:
        with self._lock:
            if self._client is not None:
                return self._client
            try:
                import botocore.config
                import botocore.session
            except ImportError:
                raise credential_unavailable(
                    "AwsWebIdentityAssertion needs botocore: pip install 'azure-wif-credential[aws]'"
                ) from None
            session = self._session or botocore.session.get_session()
            # AWS_REGION is what the AWS SDKs and CLI v2 read; botocore itself reads AWS_DEFAULT_REGION.
            region = self._region or _session_region(session) or os.environ.get("AWS_REGION") or None
            if not region:
                raise credential_unavailable(
                    "AWS STS GetWebIdentityToken is regional and no AWS region is configured: set "
                    "AWS_REGION (or AWS_DEFAULT_REGION, a profile's region, or region=)."
                )
            config = botocore.config.Config(
                connect_timeout=5, read_timeout=15, retries={"max_attempts": 3, "mode": "standard"}
            )
            make = getattr(session, "create_client", None) or session.client  # botocore, else boto3
            self._client = make("sts", region_name=region, config=config)
            self._client_session = session
            return self._client

    def __call__(self) -> str:
        client = self._sts()
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            self._remember_credentials()
            answer = client.get_web_identity_token(
                Audience=[self._audience], SigningAlgorithm=self._algorithm, DurationSeconds=self._duration
            )
        except NoCredentialsError:
            raise credential_unavailable(
                "No AWS credentials found by botocore (environment, profile, SSO, container or instance "
                "metadata): this does not run with an AWS identity."
            ) from None
        except ClientError as error:
            details = error.response.get("Error", {}) if isinstance(error.response, dict) else {}
            code = str(details.get("Code") or "Unknown")
            hint = _HINTS.get(code, "")
            raise scrubbed(
                ClientAuthenticationError(
                    message=f"AWS STS GetWebIdentityToken failed with {code}: "
                    f"{excerpt(str(details.get('Message') or ''), 300) or 'no message'}"
                    + (f". Hint: {hint}" if hint else "")
                )
            ) from None
        except BotoCoreError as error:
            raise scrubbed(
                ClientAuthenticationError(
                    message=f"AWS STS GetWebIdentityToken could not be called: {excerpt(str(error), 300)}"
                )
            ) from None
        token = answer.get("WebIdentityToken") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise ClientAuthenticationError(message="AWS STS GetWebIdentityToken answered without a token")
        remember(token)
        return token.strip()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._client = self._client_session = None  # botocore's pooled connections: a new client

    def _remember_credentials(self) -> None:
        """Register the AWS secret key and session token with the redactor before they are used: an
        error that echoes them (or a part of them) never shows them."""
        credentials = self._client_session.get_credentials()
        if credentials is None:
            return
        frozen = credentials.get_frozen_credentials()
        remember_opaque(frozen.secret_key)
        remember_opaque(frozen.token)


def _session_region(session: Any) -> Optional[str]:
    region = getattr(session, "region_name", None)  # boto3.Session
    if region is None and callable(getattr(session, "get_config_variable", None)):  # botocore
        region = session.get_config_variable("region")
    return region or None
