"""``azure-wif-credential doctor``: a workload's federation setup checked step by step, with what to fix
at each failing step. Never prints the assertion or the access token."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Tuple

from .._audience import audience_for_authority
from .._claims import format_time, unverified_claims
from ._trust import create_command, github_create_command, graph_credential, graph_options

SKEW = 60  # seconds of clock difference tolerated before it is reported


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str = ""


class Doctor:
    def __init__(self, scope: str, ca_file: Optional[str], graph_endpoint: Optional[str]) -> None:
        self.scope, self.ca_file, self.graph_endpoint = scope, ca_file, graph_endpoint
        self.options: Dict[str, Any] = {"connection_verify": ca_file} if ca_file else {}
        self.checks: List[Check] = []

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, status, detail, fix))

    def skip(self, *names: str) -> None:
        for name in names:
            self.add(name, "skip", "an earlier step failed")

    def run(self) -> None:
        from .._environment import read_environment

        settings = read_environment(**self.options)
        if settings.unavailable_message is not None:
            self.add(
                "environment",
                "fail",
                settings.unavailable_message,
                "set the variables named above (on AKS: "
                "label the pod azure.workload.identity/use=true and annotate its service account)",
            )
            return self.skip("assertion", "issuer", "exchange")
        self.add(
            "environment",
            "ok",
            f"tenant {settings.tenant_id}, client {settings.client_id}, authority "
            f"{settings.authority or 'public cloud'}; assertion from {settings.source_description}",
        )
        assertion = self.assertion(settings)
        if assertion is None:
            return self.skip("issuer", "exchange")
        self.issuer(assertion)
        self.exchange(settings, assertion)

    # --- the steps ------------------------------------------------------------------------------

    def assertion(self, settings: Any) -> Optional[str]:
        from azure.core.exceptions import ClientAuthenticationError

        from .._inputs import assertion_errors, checked_assertion

        try:
            with assertion_errors():
                assertion = checked_assertion(settings.source())
        except ClientAuthenticationError as error:
            self.add(
                "assertion",
                "fail",
                f"the source gave no assertion: {error.message}",
                "see the source's message",
            )
            return None
        claims = unverified_claims(assertion)
        now = time.time()
        expected = audience_for_authority(settings.authority)
        shown = ", ".join(f"{k}={claims.get(k)!r}" for k in ("iss", "sub", "aud"))
        exp, iat, nbf = (claims.get(k) for k in ("exp", "iat", "nbf"))
        detail = f"{shown}; exp {format_time(exp) if isinstance(exp, (int, float)) else 'missing'}"
        raw = claims.get("aud")
        audiences: List[Any] = list(raw) if isinstance(raw, list) else [raw]
        if isinstance(exp, (int, float)) and exp <= now:
            self.add(
                "assertion",
                "fail",
                f"{detail}: the assertion has expired",
                "the source hands out a stale token: check that it is refreshed (kubelet, the CI), and this machine's clock",
            )
        elif any(isinstance(t, (int, float)) and t > now + SKEW for t in (iat, nbf)):
            ahead = max(t for t in (iat, nbf) if isinstance(t, (int, float))) - now
            self.add(
                "assertion",
                "fail",
                f"{detail}: issued {ahead:.0f} s in the future (clock skew)",
                "synchronise this machine's clock (NTP) or the issuer's: Entra rejects tokens not yet valid",
            )
        elif expected not in audiences:
            self.add(
                "assertion",
                "fail",
                f"{detail}: aud is not {expected!r}, the token-exchange audience of this cloud",
                f"request the token with audience {expected} (or create the FIC with --audience for what it holds)",
            )
        else:
            self.add("assertion", "ok", detail)
        return assertion

    def issuer(self, assertion: str) -> None:
        import jwt

        claims = unverified_claims(assertion)
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not issuer.startswith("https://"):
            return self.add(
                "issuer", "fail", f"iss {issuer!r} is not an https URL", "the issuer must be an https URL"
            )
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        document, problem = self.fetch_json(url)
        if document is None:
            return self.add(
                "issuer",
                "fail",
                f"{url} is not reachable over https ({problem})",
                "Entra fetches the issuer's discovery document and keys from the internet: publish them",
            )
        published = document.get("issuer")
        if published != issuer:
            return self.add(
                "issuer",
                "fail",
                f"the discovery document's issuer is {published!r}, the token's iss is "
                f"{issuer!r}: they must be equal character for character",
                "make the issuer publish exactly its tokens' iss",
            )
        keys, problem = self.fetch_json(str(document.get("jwks_uri", "")))
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as error:
            return self.add(
                "issuer", "fail", f"the assertion's header is unreadable ({type(error).__name__})", ""
            )
        kid = header.get("kid")
        listed = (keys or {}).get("keys")
        if keys is not None and not isinstance(listed, list):
            problem = f"its 'keys' is a {type(listed).__name__}, not a list"
            listed = []
        found = [k for k in listed or [] if isinstance(k, dict) and k.get("kid") == kid]
        if not found:
            return self.add(
                "issuer",
                "fail",
                f"the issuer's JWKS has no key {kid!r} ({problem or 'keys read'})",
                "the issuer signs with a key it does not publish: check its key rotation",
            )
        try:
            key = jwt.PyJWK(found[0]).key
            jwt.decode(
                assertion,
                key,
                algorithms=[str(header.get("alg"))],
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError) as error:
            # PyJWT raises its own errors, and plain ones for a key that does not fit the algorithm.
            return self.add(
                "issuer",
                "fail",
                f"the signature does not verify with key {kid!r} and alg {str(header.get('alg'))[:20]!r}: "
                f"{type(error).__name__}",
                "the token was not signed by this issuer's published key",
            )
        self.add("issuer", "ok", f"discovery document and JWKS reachable; key {kid!r} verifies the signature")

    def exchange(self, settings: Any, assertion: str) -> None:
        from azure.core.exceptions import ClientAuthenticationError

        from .._credential import FederatedTokenCredential
        from .._errors import FIC_MISMATCH_CODES, TokenExchangeError

        credential = FederatedTokenCredential(
            settings.tenant_id,
            settings.client_id,
            assertion=lambda: assertion,
            authority=settings.authority,
            retry_total=1,
            **self.options,
        )
        with credential:
            try:
                info = credential.get_token_info(self.scope)
            except TokenExchangeError as error:
                codes = list(error.error_codes or [])
                self.add(
                    "exchange", "fail", error.message.split(" Hint:")[0], error.hint or "see the AADSTS code"
                )
                if FIC_MISMATCH_CODES.intersection(codes):
                    self.federated_credentials(settings, assertion)
                return None
            except ClientAuthenticationError as error:
                return self.add("exchange", "fail", str(error.message), "")
        self.add("exchange", "ok", f"a token for {self.scope}, expires {format_time(info.expires_on)}")
        return None

    def federated_credentials(self, settings: Any, assertion: str) -> None:
        """After a FIC mismatch (AADSTS70021, 700211, 700212, 700213): the app's FICs beside what the
        token presented, the closest one's differing field marked, and the command that would fix it.
        The FICs are read as ``trust`` reads them, but never with the workload's identity (its exchange
        just failed): the trust-managing identity (AZURE_WIF_GRAPH_CLIENT_ID), else ``az login``."""
        from ..trust import FederatedIdentityCredential, FederatedIdentityCredentials

        claims = unverified_claims(assertion)
        presented = {k: claims.get(k) for k in ("iss", "sub", "aud")}
        which = "the trust-managing identity"
        try:
            credential, which = graph_credential(self.ca_file, workload=False)
            try:
                with FederatedIdentityCredentials(
                    credential,
                    application=settings.client_id,
                    graph_endpoint=self.graph_endpoint,
                    **self.options,
                ) as fics:
                    found = fics.list()
            finally:
                credential.close()
        except Exception as error:  # Graph not readable from here: say so, the rest stands
            return self.add(
                "federated credentials",
                "skip",
                f"could not read the app's FICs with {which}: {getattr(error, 'message', error)}",
                "set AZURE_WIF_GRAPH_CLIENT_ID (and AZURE_WIF_GRAPH_TOKEN_FILE) to an identity that may read "
                "the app registration, or az login as someone who may, then run doctor again",
            )
        audiences = presented["aud"] if isinstance(presented["aud"], list) else [presented["aud"]]
        ranked = sorted(found, key=lambda f: -_score(f, presented, audiences))
        lines = [
            f"the token presented iss={presented['iss']!r} sub={presented['sub']!r} aud={presented['aud']!r}"
        ]
        for fic in ranked:
            lines.append(f"  {fic.name}: " + "; ".join(_compare(fic, presented, audiences)))
        wanted = FederatedIdentityCredential(
            name=(ranked[0].name + "-fixed")[:120] if ranked else "workload",
            issuer=str(presented["iss"]),
            subject=str(presented["sub"]),
            audiences=[str(audiences[0])],
        )
        fix = "create a FIC for exactly what the token presents: " + (
            github_create_command(settings.client_id, wanted, self.graph_endpoint)
            or create_command(settings.client_id, wanted, self.graph_endpoint)
        )
        self.add(
            "federated credentials",
            "fail",
            "\n".join(lines) if found else lines[0] + "; the app has no FICs",
            fix,
        )

    def fetch_json(self, url: str) -> Tuple[Optional[Dict[str, Any]], str]:
        from azure.core.pipeline import Pipeline

        from .._pipeline import PipelineOptions, get_json

        if not url.startswith("https://"):
            return None, "not an https URL"
        options = PipelineOptions(
            {**self.options, "retry_total": 1, "connection_timeout": 5, "read_timeout": 10}
        )
        with Pipeline(options.new_transport(), options.policies()) as pipeline:
            return get_json(pipeline, url, options.run_options())


def _score(fic: Any, presented: Dict[str, Any], audiences: List[Any]) -> int:
    return int(
        (fic.issuer == presented["iss"]) * 4
        + (fic.subject == presented["sub"]) * 2
        + (fic.audiences[0] in audiences)
    )


def _compare(fic: Any, presented: Dict[str, Any], audiences: List[Any]) -> List[str]:
    notes = []
    for field, have, want in (
        ("issuer", fic.issuer, presented["iss"]),
        ("subject", fic.subject, presented["sub"]),
    ):
        if fic.claims_matching_expression is not None and field == "subject":
            notes.append(f"subject by expression {fic.claims_matching_expression!r}")
        elif have == want:
            notes.append(f"{field} ok")
        elif isinstance(have, str) and isinstance(want, str) and have.rstrip("/") == want.rstrip("/"):
            notes.append(f"{field} DIFFERS by a trailing slash: {have!r} vs {want!r}")
        elif isinstance(have, str) and isinstance(want, str) and have.lower() == want.lower():
            notes.append(f"{field} DIFFERS in case: {have!r} vs {want!r}")
        elif field == "subject" and _github_forms_differ(have, want):
            notes.append(
                f"subject DIFFERS in form: the FIC names the repository {_form(have)}, the token "
                f"{_form(want)} (GitHub's immutable subjects since 2026-06-18): {have!r} vs {want!r}"
            )
        else:
            notes.append(f"{field} DIFFERS: {have!r} vs {want!r}")
    notes.append(
        "audience ok"
        if fic.audiences[0] in audiences
        else f"audience DIFFERS: {fic.audiences[0]!r} vs {presented['aud']!r}"
    )
    return notes


def _github_forms_differ(have: Any, want: Any) -> bool:
    """The same GitHub repository and ref, one subject by name and the other by ids."""
    from ..trust._subjects import read_github_subject

    ours, theirs = read_github_subject(have), read_github_subject(want)
    return (
        ours is not None
        and theirs is not None
        and (ours.repository, ours.rest) == (theirs.repository, theirs.rest)
        and ours.immutable != theirs.immutable
    )


def _form(subject: str) -> str:
    from ..trust._subjects import read_github_subject

    read = read_github_subject(subject)
    return "by its ids" if read is not None and read.immutable else "by name"


def run(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="azure-wif-credential doctor",
        description="Check this workload's workload identity federation setup step by step (environment, "
        "assertion, issuer, exchange, and the app's federated credentials after AADSTS70021), saying what to "
        "fix. Exit status 0 when every check passes. Never prints the assertion or the access token.",
    )
    parser.add_argument("--scope", default="https://management.azure.com/.default")
    graph_options(parser)
    args = parser.parse_args(argv)
    doctor = Doctor(args.scope, args.ca_file, args.graph_endpoint)
    doctor.run()
    ok = all(c.status in ("ok", "warn", "skip") for c in doctor.checks) and any(
        c.status == "ok" for c in doctor.checks
    )
    ok = ok and not any(c.status == "skip" and c.name != "federated credentials" for c in doctor.checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [asdict(c) for c in doctor.checks]}, indent=2))
    else:
        for check in doctor.checks:
            print(f"[{check.status:>4}] {check.name}: {check.detail}")
            if check.fix and check.status in ("fail", "warn"):
                print(f"       fix: {check.fix}")
        print("all checks passed" if ok else "some checks failed", file=sys.stderr)
    return 0 if ok else 1
