"""TLS for the secure client port, set up as Apache ZooKeeper sets it up.

Apache ZooKeeper serves TLS on ``secureClientPort`` with Netty (``NettyServerCnxnFactory``), an
``SSLContext`` from the ``ssl.*`` settings (``zookeeper.ssl.*`` system properties;
``X509Util.createSSLContextAndOptions`` and ``SSLContextAndOptions``), and after each
handshake gives the client the ``x509`` id of its certificate
(``NettyServerCnxnFactory.CertificateVerifier``, ``X509AuthenticationProvider``). Here:

* ``TlsSettings`` holds the settings, with Apache's defaults: protocol ``TLSv1.2`` and only
  that protocol enabled, the JDK 9+ default cipher suites of ``X509Util`` (ECDHE with AES-GCM
  first, then AES-CBC), client certificates required (``ssl.clientAuth=need``).
* ``server_context`` builds the ``ssl.SSLContext``: the key store's key and chain, the trust
  store's certificates as the anchors client certificates are verified against (any
  certificate in it is an anchor, as in Java's PKIX: partial chains are accepted), client
  authentication as asked. It refuses, with the setting named, what cannot work: no key
  store; a trust store missing while clients must or may present certificates (Apache would
  start and fail every handshake); protocols or cipher suites it cannot map.

Settings Apache reads for the client port that zkref refuses at start instead of ignoring
(``server.config``): ``ssl.crl``/``ssl.ocsp`` true, ``ssl.context.supplier.class``, an
``ssl.authProvider`` other than ``x509``, ``client.portUnification`` true, PKCS12/BCFKS stores
(``server.keystore``). ``ssl.hostnameVerification`` is read and has no effect on a server,
as in Apache (client hostnames are never verified: ``ClientX509Util.shouldVerifyClientHostname``).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from server.keystore import KeyStoreError, Store, private_key_pem, read_store

DEFAULT_PROTOCOL = "TLSv1.2"  # X509Util.DEFAULT_PROTOCOL
# Netty's SslHandler gives a handshake 10 s.
HANDSHAKE_TIMEOUT_S = 10.0
PROTOCOLS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
_PROTOCOL_ORDER = list(PROTOCOLS)
# Java (IANA) cipher suite names zkref can map to OpenSSL's, for TLS 1.2 and below.
CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384": "ECDHE-ECDSA-AES256-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": "ECDHE-RSA-AES256-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": "DHE-RSA-AES128-GCM-SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": "DHE-RSA-AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
}
# X509Util.DEFAULT_CIPHERS_JAVA9: GCM first, then CBC.
DEFAULT_CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
)


class TlsError(ValueError):
    """The TLS settings cannot make a working secure port; the message names the setting."""


class ClientAuth(Enum):
    """``X509Util.ClientAuth``: whether a client must, may or must not present a certificate."""

    NONE = ssl.CERT_NONE
    WANT = ssl.CERT_OPTIONAL
    NEED = ssl.CERT_REQUIRED


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """One store's ``location``, ``password`` (or ``passwordPath``) and ``type``."""

    location: Path | None = None
    password: str = field(default="", repr=False)
    password_path: Path | None = None
    type_name: str | None = None

    def resolved_password(self, what: str) -> str:
        """``X509Util.getPasswordFromConfigPropertyOrFile``: the file's, if it is named."""
        if self.password_path is not None:
            return read_secret(self.password_path, what)
        return self.password

    def read(self, what: str) -> Store:
        assert self.location is not None, what
        try:
            return read_store(self.location, self.resolved_password(what), self.type_name)
        except KeyStoreError as error:
            raise TlsError(f"{what}: {error}") from None


def read_secret(path: Path, what: str) -> str:
    """``SecretUtils.readSecret``: the file's text, less one trailing line separator."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TlsError(f"{what}: cannot read {path}: {error.strerror or error}") from None
    return text.removesuffix(os.linesep)


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """The ``ssl.*`` settings of the client port (zoo.cfg names in comments)."""

    key_store: StoreSettings = StoreSettings()  # ssl.keyStore.*
    trust_store: StoreSettings = StoreSettings()  # ssl.trustStore.*
    client_auth: ClientAuth = ClientAuth.NEED  # ssl.clientAuth
    protocol: str = DEFAULT_PROTOCOL  # ssl.protocol
    enabled_protocols: tuple[str, ...] | None = None  # ssl.enabledProtocols (None: protocol)
    cipher_suites: tuple[str, ...] = DEFAULT_CIPHER_SUITES  # ssl.ciphersuites


DEFAULT_TLS = TlsSettings()


def parse_client_auth(text: str) -> ClientAuth:
    """``ClientAuth.fromPropertyValue``: empty is NEED, else none/want/need in any case."""
    if not text:
        return ClientAuth.NEED
    try:
        return ClientAuth[text.strip().upper()]
    except KeyError:
        raise TlsError(f"ssl.clientAuth={text!r}: expected none, want or need") from None


def _version_range(settings: TlsSettings) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    names = settings.enabled_protocols or (settings.protocol,)
    unknown = [name for name in names if name not in PROTOCOLS]
    if unknown:
        key = "ssl.enabledProtocols" if settings.enabled_protocols else "ssl.protocol"
        raise TlsError(f"{key}: {', '.join(unknown)} not supported (expected {_PROTOCOL_ORDER})")
    indexes = sorted(_PROTOCOL_ORDER.index(name) for name in set(names))
    if indexes != list(range(indexes[0], indexes[-1] + 1)):
        raise TlsError(
            f"ssl.enabledProtocols={','.join(names)}: zkref enables a contiguous range of "
            "TLS versions only"
        )
    return PROTOCOLS[_PROTOCOL_ORDER[indexes[0]]], PROTOCOLS[_PROTOCOL_ORDER[indexes[-1]]]


def _openssl_ciphers(suites: tuple[str, ...]) -> str:
    unknown = [suite for suite in suites if suite not in CIPHER_SUITES]
    if unknown:
        raise TlsError(
            f"ssl.ciphersuites: {', '.join(unknown)} not supported by zkref (TLS 1.3 suites "
            f"cannot be chosen; known: {', '.join(CIPHER_SUITES)})"
        )
    return ":".join(CIPHER_SUITES[suite] for suite in suites)


def server_context(settings: TlsSettings) -> ssl.SSLContext:
    """The ``ssl.SSLContext`` of the secure client port; ``TlsError`` if it cannot work."""
    if settings.key_store.location is None:
        raise TlsError(
            "secureClientPort needs ssl.keyStore.location: without a key the server cannot "
            "complete a handshake"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version, context.maximum_version = _version_range(settings)
    try:
        context.set_ciphers(_openssl_ciphers(settings.cipher_suites))
    except ssl.SSLError as error:
        raise TlsError(f"ssl.ciphersuites: none of them is available here ({error})") from None
    key_store = settings.key_store
    _load_key(context, key_store.read("ssl.keyStore"), key_store.resolved_password("ssl.keyStore"))
    context.verify_mode = settings.client_auth.value
    if settings.client_auth is not ClientAuth.NONE:
        if settings.trust_store.location is None:
            raise TlsError(
                f"ssl.clientAuth={settings.client_auth.name.lower()} needs "
                "ssl.trustStore.location: no client certificate could be trusted"
            )
        _load_trust(context, settings.trust_store.read("ssl.trustStore"))
        # Java's PKIX trusts any certificate of the trust store as an anchor.
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def _load_key(context: ssl.SSLContext, store: Store, password: str) -> None:
    pem_path = store.pem_path
    try:
        if pem_path is not None:
            # The store password unlocks an ENCRYPTED PRIVATE KEY (PemReader).
            context.load_cert_chain(pem_path, password=password or None)
            return
        if len(store.private_keys) != 1:
            raise TlsError(
                f"ssl.keyStore {store.path}: {len(store.private_keys)} private keys; zkref "
                "serves exactly one (keep one key entry in the store)"
            )
        key, chain = store.private_keys[0]
        if not chain:
            raise TlsError(f"ssl.keyStore {store.path}: the key has no certificate")
        pem = "".join(ssl.DER_cert_to_PEM_cert(c) for c in chain) + private_key_pem(key)
        with _private_file(pem.encode("ascii")) as path:
            context.load_cert_chain(path)
    except (ssl.SSLError, OSError) as error:
        raise TlsError(f"ssl.keyStore {store.path}: {error}") from None


def _load_trust(context: ssl.SSLContext, store: Store) -> None:
    if not store.trusted_certificates:
        raise TlsError(f"ssl.trustStore {store.path}: no trusted certificate in it")
    try:
        context.load_verify_locations(cadata=b"".join(store.trusted_certificates))
    except ssl.SSLError as error:
        raise TlsError(f"ssl.trustStore {store.path}: {error}") from None


@contextlib.contextmanager
def _private_file(data: bytes) -> Iterator[str]:
    """A path that reads as ``data`` for as long as the context lasts, and nobody else can
    read: a memory file on Linux, else a file in a fresh private directory; gone after."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None:
        fd = memfd_create("zkref-key", 0)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="zkref-key-") as directory:
        path = Path(directory, "key.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        yield str(path)
