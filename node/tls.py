"""Mutual TLS for every connection (DESIGN.md §7): credentials for servers
and clients from PEM files, and a small certificate authority (``caravan
certs init``, ``caravan cluster up``) built with the ``cryptography`` package.

Every daemon certificate is valid for both server and client authentication,
so a node uses the same certificate to serve and to call another node."""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass

import grpc


@dataclass(frozen=True)
class TlsFiles:
    ca: str
    cert: str
    key: str

    def read(self) -> tuple[bytes, bytes, bytes]:
        out = []
        for what, path in (("CA certificate", self.ca), ("certificate", self.cert), ("key", self.key)):
            try:
                with open(path, "rb") as f:
                    out.append(f.read())
            except OSError as exc:
                raise ValueError(f"cannot read the {what} {path}: {exc.strerror}") from None
        return out[0], out[1], out[2]

    @classmethod
    def in_dir(cls, directory: str, name: str) -> "TlsFiles":
        return cls(os.path.join(directory, "ca.crt"), os.path.join(directory, f"{name}.crt"),
                   os.path.join(directory, f"{name}.key"))


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    ca, cert, key = files.read()
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    ca, cert, key = files.read()
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


# -- a small certificate authority -------------------------------------------------------------

def _write(path: str, data: bytes, private: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def init_ca(directory: str, common_name: str = "Caravan cluster CA") -> None:
    """Create ca.crt/ca.key in ``directory`` (kept if they exist)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    os.makedirs(directory, exist_ok=True)
    if os.path.exists(os.path.join(directory, "ca.crt")):
        return
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    _write(os.path.join(directory, "ca.key"), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), private=True)
    _write(os.path.join(directory, "ca.crt"), cert.public_bytes(serialization.Encoding.PEM))


def issue(directory: str, name: str, hosts: list[str] | None = None) -> TlsFiles:
    """Issue ``name``.crt/.key signed by the CA in ``directory``, valid for
    ``hosts`` (DNS names or IP addresses; localhost and 127.0.0.1 always)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    with open(os.path.join(directory, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    with open(os.path.join(directory, "ca.crt"), "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    names: list[x509.GeneralName] = []
    for host in ["localhost", "127.0.0.1", *(hosts or [])]:
        try:
            ip = x509.IPAddress(ipaddress.ip_address(host))
            if ip not in names:
                names.append(ip)
        except ValueError:
            if x509.DNSName(host) not in names:
                names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    files = TlsFiles.in_dir(directory, name)
    _write(files.key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()), private=True)
    _write(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    return files
