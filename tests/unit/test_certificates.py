"""The local CA and the broker's server certificate."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509

from local_runner.infra.certificates import ensure_tls_files


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_first_run_makes_a_ca_and_a_server_certificate_it_signed(tmp_path: Path) -> None:
    files, made = ensure_tls_files(tmp_path / "tls")
    assert made
    ca, server = _load(files.ca_cert), _load(files.server_cert)
    server.verify_directly_issued_by(ca)  # raises when the signature does not hold
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    for key in (files.ca_key, files.server_key):
        assert key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tls").stat().st_mode & 0o777 == 0o700


def test_a_second_run_keeps_them_and_a_new_host_reissues_the_server_certificate_only(
    tmp_path: Path,
) -> None:
    files, _ = ensure_tls_files(tmp_path)
    ca_before, server_before = files.ca_cert.read_bytes(), files.server_cert.read_bytes()
    assert ensure_tls_files(tmp_path)[1] is False
    assert files.server_cert.read_bytes() == server_before
    # WHEN a host is added THEN the server certificate is re-issued by the same CA
    _, made = ensure_tls_files(tmp_path, ("localhost", "127.0.0.1", "charging.example"))
    assert made
    assert files.ca_cert.read_bytes() == ca_before
    _load(files.server_cert).verify_directly_issued_by(_load(files.ca_cert))


def test_renew_replaces_the_ca_too(tmp_path: Path) -> None:
    files, _ = ensure_tls_files(tmp_path)
    before = files.ca_cert.read_bytes()
    ensure_tls_files(tmp_path, renew=True)
    assert files.ca_cert.read_bytes() != before
