"""A federated identity credential as Microsoft Graph holds it, checked by Entra's rules before any
request: what was wrong is named, so a user fixes it without a round trip."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Mapping, Optional
from urllib.parse import urlsplit

from ._expressions import LANGUAGE_VERSION, parse

EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
MAX_NAME_LENGTH = 120
MAX_FIELD_LENGTH = 600
#: Entra's rule for a FIC's name (URL-safe; no name can be a dot segment or hold a slash).
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{2,119}")


@dataclass(frozen=True)
class FederatedIdentityCredential:
    """Trust in tokens from ``issuer`` whose ``sub`` is ``subject`` (or, a flexible FIC, whose claims
    match ``claims_matching_expression``) and whose ``aud`` is the one value of ``audiences``."""

    name: str
    issuer: str
    subject: Optional[str] = None
    audiences: List[str] = field(default_factory=lambda: [EXCHANGE_AUDIENCE])
    description: Optional[str] = None
    claims_matching_expression: Optional[str] = None
    id: Optional[str] = None

    def validate(self) -> None:
        """ValueError naming the rule this credential breaks (Entra's rules, checked locally)."""
        if not isinstance(self.name, str) or not NAME_RULE.fullmatch(self.name):
            raise ValueError(
                f"name {str(self.name)[:80]!r}: 3 to {MAX_NAME_LENGTH} URL-safe characters (letters, digits, "
                "'.', '_', '~', '-'), starting with a letter or digit; it cannot be changed later"
            )
        if (
            not isinstance(self.issuer, str)
            or urlsplit(self.issuer).scheme != "https"
            or not urlsplit(self.issuer).netloc
        ):
            raise ValueError(
                f"issuer {str(self.issuer)[:80]!r}: the issuer must be an https URL (the token's iss, exactly)"
            )
        audiences = self.audiences
        if isinstance(audiences, str) or not isinstance(audiences, (list, tuple)) or len(audiences) != 1:
            raise ValueError("audiences: exactly one audience, e.g. ['api://AzureADTokenExchange']")
        if not isinstance(audiences[0], str) or not audiences[0].strip():
            raise ValueError("audiences: the audience must be a non-empty string")
        if self.description is not None and not isinstance(self.description, str):
            raise ValueError("description: a string, or None")
        fields_ = (("issuer", self.issuer), ("subject", self.subject), ("audience", audiences[0]))
        for name, value in (*fields_, ("description", self.description)):
            if isinstance(value, str) and len(value) > MAX_FIELD_LENGTH:
                raise ValueError(f"{name}: at most {MAX_FIELD_LENGTH} characters (it has {len(value)})")
        if (self.subject is None) == (self.claims_matching_expression is None):
            raise ValueError(
                "subject and claims_matching_expression: exactly one of them (they are mutually exclusive)"
            )
        if self.subject is not None and (not isinstance(self.subject, str) or not self.subject.strip()):
            raise ValueError("subject: a non-empty string (the token's sub, exactly)")
        if self.claims_matching_expression is not None:
            parse(self.claims_matching_expression)  # ExpressionError (a ValueError) says where

    def to_graph(self) -> Dict[str, Any]:
        body: Dict[str, Any] = {
            "name": self.name,
            "issuer": self.issuer,
            "subject": self.subject,
            "audiences": list(self.audiences),
            "description": self.description,
        }
        if self.claims_matching_expression is not None:
            body["claimsMatchingExpression"] = {
                "value": self.claims_matching_expression,
                "languageVersion": LANGUAGE_VERSION,
            }
        return body

    @classmethod
    def from_graph(cls, document: Any) -> FederatedIdentityCredential:
        """From Graph's JSON, checked: a document of another shape is a ValueError, not a half object."""
        if not isinstance(document, Mapping):
            raise ValueError("Graph answered a federated identity credential that is not a JSON object")

        def text(name: str, required: bool = False) -> Optional[str]:
            value = document.get(name)
            if value is None and not required:
                return None
            if not isinstance(value, str) or len(value) > 4096:
                raise ValueError(
                    f"Graph answered a federated identity credential whose '{name}' is not a string"
                )
            return value

        audiences = document.get("audiences")
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise ValueError(
                "Graph answered a federated identity credential whose 'audiences' is not a list of strings"
            )
        expression = document.get("claimsMatchingExpression")
        value = expression.get("value") if isinstance(expression, Mapping) else None
        return cls(
            name=text("name", True) or "",
            issuer=text("issuer", True) or "",
            subject=text("subject"),
            audiences=list(audiences),
            description=text("description"),
            claims_matching_expression=value if isinstance(value, str) else None,
            id=text("id"),
        )

    def changed(self, **changes: Any) -> FederatedIdentityCredential:
        known = {f.name for f in fields(self)} - {"id", "name"}
        unknown = sorted(set(changes) - known)
        if "name" in changes:
            raise ValueError(
                "name: a federated identity credential's name cannot be changed (delete and create it)"
            )
        if unknown:
            raise TypeError(
                f"update() got unknown field(s) {', '.join(unknown)}; it takes {', '.join(sorted(known))}"
            )
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        if changes.get("subject") is not None:
            current["claims_matching_expression"] = None
        if changes.get("claims_matching_expression") is not None:
            current["subject"] = None
        return FederatedIdentityCredential(**{**current, **changes})
