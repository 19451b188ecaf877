"""Key material the sandbox makes at start: a CA, its server certificate, and JWT signing keys."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CERT_VALIDITY = datetime.timedelta(days=2)
_BACKDATE = datetime.timedelta(hours=1)  # tolerate clients whose clock runs a little behind


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    """An RS256 key pair with the ``kid`` under which its public half is published."""

    kid: str
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate | None = None  # published as x5c/x5t, the way Entra publishes its keys

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        header = {"typ": "JWT", "kid": self.kid}
        if self.certificate is not None:
            header["x5t"] = self.kid
        header.update(headers or {})
        return jwt.encode(dict(claims), self.private_key, algorithm="RS256", headers=header)

    def public_jwk(self, **extra: Any) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        jwk: dict[str, Any] = {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }
        if self.certificate is not None:
            der = self.certificate.public_bytes(serialization.Encoding.DER)
            jwk["x5t"] = self.kid
            jwk["x5c"] = [base64.b64encode(der).decode("ascii")]
        jwk.update(extra)
        return jwk

    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()


def new_signing_key(*, with_certificate: bool = False, subject: str = "sandbox token signing") -> SigningKey:
    """A fresh 2048-bit RSA signing key; with a self-signed certificate its kid is the x5t thumbprint."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if not with_certificate:
        return SigningKey(kid=_b64url(secrets.token_bytes(16)), private_key=private_key)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _CERT_VALIDITY)
        .sign(private_key, hashes.SHA256())
    )
    thumbprint = hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER)).digest()  # Entra's x5t
    return SigningKey(kid=_b64url(thumbprint), private_key=private_key, certificate=certificate)


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for the HTTPS listener: the CA clients trust, and the server's chain and key."""

    ca_file: str
    cert_file: str
    key_file: str


def write_tls_files(
    directory: str, *, host: str = "127.0.0.1", names: tuple[str, ...] = (), prefix: str = ""
) -> TlsFiles:
    """Make a throw-away CA and a server certificate for ``host`` and ``localhost`` in ``directory``
    (for the DNS ``names`` only, when given), the files' names starting with ``prefix``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "azure-wif-credential sandbox"),
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"azure-wif-credential sandbox CA {secrets.token_hex(4)}"
            ),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(certificate_authority=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else host)]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _CERT_VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name) for name in names]
                if names
                else [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(certificate_authority=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    files = TlsFiles(
        ca_file=os.path.join(directory, f"{prefix}ca.pem"),
        cert_file=os.path.join(directory, f"{prefix}server.pem"),
        key_file=os.path.join(directory, f"{prefix}server-key.pem"),
    )
    _write(files.ca_file, ca_cert.public_bytes(serialization.Encoding.PEM))
    _write(files.cert_file, server_cert.public_bytes(serialization.Encoding.PEM))
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(files.key_file, key_pem, mode=0o600)
    return files


def _key_usage(*, certificate_authority: bool) -> x509.KeyUsage:
    """A CA signs certificates; the (EC) server key signs and agrees keys in TLS handshakes."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not certificate_authority,
        key_cert_sign=certificate_authority,
        crl_sign=certificate_authority,
        encipher_only=False,
        decipher_only=False,
    )


def _write(path: str, data: bytes, *, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
