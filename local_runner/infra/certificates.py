"""The local certificate authority and the broker's TLS certificate, made with `cryptography`.

Generated on first run into the data folder (keys readable by the owner only), re-issued when the
server certificate is missing, expires within 30 days, or does not name a requested host. The CA
key stays in the folder so a new server certificate keeps the clients' trust.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
CA_DAYS = 5 * 365
SERVER_DAYS = 365
RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def tls_files(folder: Path) -> TlsFiles:
    return TlsFiles(
        folder / "ca.crt", folder / "ca.key", folder / "server.crt", folder / "server.key"
    )


def write_private(path: Path, data: bytes) -> None:
    """Created with mode 0600 from the start, so the key is never readable by others."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "EV charging sessions (local)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(
    common_name: str = "EV charging sessions local CA",
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _subject_names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def make_server_certificate(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, hosts: tuple[str, ...]
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_subject_names(hosts)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _server_certificate_current(files: TlsFiles, hosts: tuple[str, ...]) -> bool:
    if not (files.server_cert.exists() and files.server_key.exists()):
        return False
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    if cert.not_valid_after_utc - datetime.now(UTC) < RENEW_BEFORE:
        return False
    named = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(_subject_names(hosts)) <= set(named)


def ensure_tls_files(
    folder: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS, *, renew: bool = False
) -> tuple[TlsFiles, bool]:
    """The CA and server certificate in `folder`, made or re-issued when needed.

    Returns the files and whether anything was (re)generated."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    files = tls_files(folder)
    changed = False
    if renew or not (files.ca_cert.exists() and files.ca_key.exists()):
        ca_key, ca_cert = make_ca()
        write_private(files.ca_key, _key_pem(ca_key))
        files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        files.server_cert.unlink(missing_ok=True)
        changed = True
    if renew or changed or not _server_certificate_current(files, hosts):
        loaded_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), None)
        if not isinstance(loaded_key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{files.ca_key} is not an EC private key")
        ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        key, cert = make_server_certificate(loaded_key, ca_cert, hosts)
        write_private(files.server_key, _key_pem(key))
        files.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        changed = True
    return files, changed
