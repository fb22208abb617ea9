"""Certificates and key stores made in the test, for the TLS tests.

``CertificateAuthority`` issues RSA certificates with ``cryptography`` (subjects as given,
attribute by attribute, so odd names can be tested). ``write_stores`` writes a server's key
store and trust store as JKS with the JDK's own ``keytool`` (an independent writer of the
format ``server.keystore`` reads), and the client's files as PEM.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID, ObjectIdentifier

STORE_PASSWORD = "apassword"
KEYTOOL_TIMEOUT_S = 60.0


def name(*attributes: tuple[ObjectIdentifier, str]) -> x509.Name:
    """An X.509 name of one attribute per relative name, in the order given."""
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


@dataclass
class Issued:
    """A key and the certificate issued for it."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def write_pem(self, cert_path: Path, key_path: Path) -> None:
        cert_path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


class CertificateAuthority:
    """A self-signed CA that issues certificates valid for a day."""

    def __init__(self, common_name: str = "zkref test CA") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = name((NameOID.COMMON_NAME, common_name))
        self.certificate = self._build(subject, subject, self.key.public_key(), ca=True)
        self.serial = 1

    def _build(
        self, subject: x509.Name, issuer: x509.Name, public_key: rsa.RSAPublicKey, ca: bool
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        return builder.sign(self.key, hashes.SHA256())

    def issue(self, subject: x509.Name) -> Issued:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = self._build(subject, self.certificate.subject, key.public_key(), ca=False)
        return Issued(key, certificate)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class ServerStores:
    """A server's JKS key store and trust store, and the CA's PEM for clients."""

    key_store: Path
    trust_store: Path
    ca_pem: Path


def _keytool(*arguments: str) -> None:
    keytool = shutil.which("keytool")
    if keytool is None:
        pytest.skip("keytool (a JDK) is needed to write JKS stores")
    subprocess.run(
        [keytool, *arguments],
        check=True,
        capture_output=True,
        timeout=KEYTOOL_TIMEOUT_S,
    )


def write_stores(directory: Path, ca: CertificateAuthority, server: Issued) -> ServerStores:
    """``keystore.jks`` (the server's key and chain), ``truststore.jks`` (the CA), ``ca.pem``."""
    directory.mkdir(parents=True, exist_ok=True)
    bundle = directory / "server.p12"
    bundle.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"server",
            server.key,
            server.certificate,
            [ca.certificate],
            serialization.BestAvailableEncryption(STORE_PASSWORD.encode()),
        )
    )
    stores = ServerStores(
        directory / "keystore.jks", directory / "truststore.jks", directory / "ca.pem"
    )
    for path in (stores.key_store, stores.trust_store):
        path.unlink(missing_ok=True)
    _keytool(
        "-importkeystore",
        "-noprompt",
        "-srckeystore", str(bundle),
        "-srcstoretype", "PKCS12",
        "-srcstorepass", STORE_PASSWORD,
        "-destkeystore", str(stores.key_store),
        "-deststoretype", "JKS",
        "-deststorepass", STORE_PASSWORD,
    )  # fmt: skip
    ca_der = directory / "ca.der"
    ca_der.write_bytes(ca.der)
    _keytool(
        "-importcert",
        "-noprompt",
        "-alias", "ca",
        "-file", str(ca_der),
        "-keystore", str(stores.trust_store),
        "-storetype", "JKS",
        "-storepass", STORE_PASSWORD,
    )  # fmt: skip
    stores.ca_pem.write_bytes(ca.pem)
    return stores
