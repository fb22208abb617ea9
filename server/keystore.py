"""Key stores and trust stores in the formats Apache ZooKeeper's TLS settings name.

Apache ZooKeeper reads ``ssl.keyStore.location`` and ``ssl.trustStore.location`` as JKS, PEM,
PKCS12 or BCFKS files, by ``ssl.keyStore.type`` / ``ssl.trustStore.type`` or else by the file
name's extension (``KeyStoreFileType.fromPropertyValueOrFileName``: ``.jks``, ``.pem``,
``.p12``, ``.bcfks``). zkref reads two of them:

* **JKS** (``sun.security.provider.JavaKeyStore``), the format kazoo's test harness and
  ``keytool -storetype JKS`` write: a big-endian header (magic ``0xFEEDFEED``, version 1 or 2,
  entry count), private-key entries (alias, date, the key protected by Sun's key protector,
  the certificate chain) and trusted-certificate entries, then a SHA-1 over the password
  (UTF-16BE), the words "Mighty Aphrodite" and everything before: a wrong password fails
  here, as Java's "Keystore was tampered with, or password was incorrect". A private key
  is unprotected with the same password (``X509Util.createKeyManager``: the key password is
  the store password) by ``KeyProtector.recover``: SHA-1 of password and salt, chained, XORed
  over the key, checked by a SHA-1 of password and key.
* **PEM**: certificates, and a private key (``PRIVATE KEY``, or ``ENCRYPTED PRIVATE KEY``
  unlocked by the store password), read by Python's ``ssl`` itself.

PKCS12 and BCFKS are refused with a message that says how to convert: both need ciphers
(AES, and more) that Python's standard library does not have, and a JKS reader is some
hundred lines of SHA-1 and DER that need no dependency; ``pyjks``, which kazoo's harness
uses to *write* stores, pulls in four packages (two with C extensions) for what this module
does. JCEKS, the other Java format, is refused too.

Reads files; builds nothing: ``server.tls`` turns stores into an ``ssl.SSLContext``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl
import struct
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

JKS_MAGIC = 0xFEEDFEED
JCEKS_MAGIC = 0xCECECECE
JKS_PRIVATE_KEY_ENTRY = 1
JKS_TRUSTED_CERTIFICATE_ENTRY = 2
JKS_INTEGRITY_WHITENER = b"Mighty Aphrodite"
# Sun's proprietary key protection algorithm (KnownOIDs.JAVASOFT_JDKKeyProtector).
KEY_PROTECTOR_OID = "1.3.6.1.4.1.42.2.17.1.1"
SHA1_BYTES = 20
STORE_BYTES_MAX = 16 << 20  # a key store larger than this is not a key store
ENTRIES_MAX = 10_000


class StoreType(Enum):
    """``KeyStoreFileType``: the store formats Apache ZooKeeper knows, and their extensions."""

    JKS = ".jks"
    PEM = ".pem"
    PKCS12 = ".p12"
    BCFKS = ".bcfks"


class KeyStoreError(ValueError):
    """A store cannot be read; the message names the file and says what is wrong."""


@dataclass(frozen=True, slots=True)
class Store:
    """What a store holds: at most the private keys (PKCS#8 DER, each with its certificate
    chain, leaf first, DER) and the trusted certificates (DER). A PEM store is kept as its
    file (``pem_path``): Python's ``ssl`` reads it."""

    path: Path
    store_type: StoreType
    private_keys: tuple[tuple[bytes, tuple[bytes, ...]], ...] = ()
    trusted_certificates: tuple[bytes, ...] = ()

    @property
    def pem_path(self) -> Path | None:
        return self.path if self.store_type is StoreType.PEM else None


def store_type(type_name: str | None, path: Path) -> StoreType:
    """``KeyStoreFileType.fromPropertyValueOrFileName``: the type named (any case), else the
    file name's extension; ``KeyStoreError`` if neither says."""
    if type_name:
        try:
            return StoreType[type_name.strip().upper()]
        except KeyError:
            known = ", ".join(t.name for t in StoreType)
            raise KeyStoreError(f"{type_name!r} is not a store type: expected {known}") from None
    for candidate in StoreType:
        if path.name.endswith(candidate.value):
            return candidate
    raise KeyStoreError(
        f"{path}: cannot tell the store type from the file name; name it .jks or .pem, or set "
        "the type (ssl.keyStore.type / ssl.trustStore.type)"
    )


def read_store(path: Path, password: str, type_name: str | None = None) -> Store:
    """Read a JKS or PEM store (see the module docstring); ``KeyStoreError`` otherwise."""
    kind = store_type(type_name, path)
    if kind in (StoreType.PKCS12, StoreType.BCFKS):
        raise KeyStoreError(
            f"{path}: {kind.name} stores are not supported by zkref; convert it to JKS "
            "(keytool -importkeystore -deststoretype JKS) or PEM (openssl pkcs12 -nodes)"
        )
    try:
        size = path.stat().st_size
        if size > STORE_BYTES_MAX:
            raise KeyStoreError(f"{path}: {size} bytes is too large for a key store")
        data = path.read_bytes()
    except OSError as error:
        raise KeyStoreError(f"cannot read {path}: {error.strerror or error}") from None
    if kind is StoreType.PEM:
        return _pem_store(path, data)
    try:
        return _jks_store(path, data, password)
    except (struct.error, IndexError, UnicodeDecodeError, _DerError) as error:
        raise KeyStoreError(f"{path}: not a valid JKS key store ({error})") from None


def _pem_store(path: Path, data: bytes) -> Store:
    text = data.decode("ascii", "replace")
    certificates = tuple(
        ssl.PEM_cert_to_DER_cert(block) for block in _pem_blocks(text, "CERTIFICATE")
    )
    if not certificates and "PRIVATE KEY-----" not in text:
        raise KeyStoreError(f"{path}: no PEM certificate or private key in it")
    return Store(path, StoreType.PEM, trusted_certificates=certificates)


def _pem_blocks(text: str, label: str) -> list[str]:
    blocks: list[str] = []
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    at = text.find(begin)
    while at >= 0:
        stop = text.find(end, at)
        if stop < 0:
            break
        blocks.append(text[at : stop + len(end)])
        at = text.find(begin, stop)
    return blocks


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, count: int) -> bytes:
        if count < 0 or self.at + count > len(self.data):
            raise IndexError(f"{count} bytes past the end at offset {self.at}")
        chunk = self.data[self.at : self.at + count]
        self.at += count
        return chunk

    def int32(self) -> int:
        value: int = struct.unpack(">i", self.take(4))[0]
        return value

    def utf(self) -> str:
        """``DataInput.readUTF``: a 2-byte length, then modified UTF-8."""
        (length,) = struct.unpack(">H", self.take(2))
        return self.take(length).replace(b"\xc0\x80", b"\0").decode("utf-8", "replace")

    def blob(self) -> bytes:
        return self.take(self.int32())


def _password_bytes(password: str) -> bytes:
    """``JavaKeyStore.convertToBytes``: each UTF-16 unit, high byte first."""
    return password.encode("utf-16-be", "surrogatepass")


def _jks_store(path: Path, data: bytes, password: str) -> Store:
    reader = _Reader(data)
    magic = reader.int32() & 0xFFFFFFFF
    if magic == JCEKS_MAGIC:
        raise KeyStoreError(f"{path}: JCEKS stores are not supported by zkref; convert to JKS")
    if magic != JKS_MAGIC:
        hint = " (a PKCS12 file? name it .p12)" if data[:1] == b"\x30" else ""
        raise KeyStoreError(f"{path}: not a JKS key store{hint}")
    version = reader.int32()
    if version not in (1, 2):
        raise KeyStoreError(f"{path}: JKS version {version} is unknown")
    count = reader.int32()
    if not 0 <= count <= ENTRIES_MAX:
        raise KeyStoreError(f"{path}: {count} entries")
    protected_keys: list[tuple[str, bytes, tuple[bytes, ...]]] = []
    trusted: list[bytes] = []
    for _ in range(count):
        tag = reader.int32()
        alias = reader.utf()
        reader.take(8)  # creation date
        if tag == JKS_PRIVATE_KEY_ENTRY:
            protected = reader.blob()
            chain = tuple(_jks_certificate(reader, version) for _ in range(reader.int32()))
            protected_keys.append((alias, protected, chain))
        elif tag == JKS_TRUSTED_CERTIFICATE_ENTRY:
            trusted.append(_jks_certificate(reader, version))
        else:
            raise KeyStoreError(f"{path}: entry {alias!r} has the unknown tag {tag}")
    body = data[: reader.at]
    expected = hashlib.sha1(_password_bytes(password) + JKS_INTEGRITY_WHITENER + body).digest()
    if not hmac.compare_digest(expected, reader.take(SHA1_BYTES)):
        raise KeyStoreError(
            f"{path}: keystore was tampered with, or password was incorrect (check the "
            "store's password setting)"
        )
    private_keys = tuple(
        (_recover_key(path, alias, protected, password), chain)
        for alias, protected, chain in protected_keys
    )
    return Store(path, StoreType.JKS, private_keys, tuple(trusted))


def _jks_certificate(reader: _Reader, version: int) -> bytes:
    if version == 2:
        certificate_type = reader.utf()
        if certificate_type != "X.509":
            raise KeyStoreError(f"certificate type {certificate_type!r} is not X.509")
    return reader.blob()


def _recover_key(path: Path, alias: str, protected_info: bytes, password: str) -> bytes:
    """``KeyProtector.recover``: the PKCS#8 private key inside an EncryptedPrivateKeyInfo."""
    algorithm_oid, protected = _encrypted_private_key_info(protected_info)
    if algorithm_oid != KEY_PROTECTOR_OID:
        raise KeyStoreError(f"{path}: key {alias!r} is protected by {algorithm_oid}, not JKS's")
    if len(protected) < 2 * SHA1_BYTES:
        raise KeyStoreError(f"{path}: key {alias!r} is truncated")
    secret = _password_bytes(password)
    salt = protected[:SHA1_BYTES]
    encrypted = protected[SHA1_BYTES:-SHA1_BYTES]
    check = protected[-SHA1_BYTES:]
    stream = bytearray()
    digest = salt
    while len(stream) < len(encrypted):
        digest = hashlib.sha1(secret + digest).digest()
        stream += digest
    key = bytes(a ^ b for a, b in zip(encrypted, stream, strict=False))
    if not hmac.compare_digest(hashlib.sha1(secret + key).digest(), check):
        raise KeyStoreError(
            f"{path}: cannot recover key {alias!r}: its password is not the store's password"
        )
    return key


class _DerError(ValueError):
    pass


def _der(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of contents, end) of the DER element at ``at``."""
    if at + 2 > len(data):
        raise _DerError("truncated")
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise _DerError("bad length")
        length = int.from_bytes(data[at : at + count], "big")
        at += count
    if at + length > len(data):
        raise _DerError("runs past the end")
    return tag, at, at + length


def _encrypted_private_key_info(data: bytes) -> tuple[str, bytes]:
    """``EncryptedPrivateKeyInfo ::= SEQUENCE { AlgorithmIdentifier, OCTET STRING }``."""
    tag, start, _ = _der(data, 0)
    if tag != 0x30:
        raise _DerError("not a SEQUENCE")
    tag, algorithm_start, algorithm_end = _der(data, start)
    if tag != 0x30:
        raise _DerError("no AlgorithmIdentifier")
    tag, oid_start, oid_end = _der(data, algorithm_start)
    if tag != 0x06:
        raise _DerError("no algorithm OID")
    tag, octets_start, octets_end = _der(data, algorithm_end)
    if tag != 0x04:
        raise _DerError("no encrypted data")
    return _oid(data[oid_start:oid_end]), data[octets_start:octets_end]


def _oid(encoded: bytes) -> str:
    numbers: list[int] = []
    value = 0
    for byte in encoded:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            numbers.append(value)
            value = 0
    if not numbers:
        raise _DerError("empty OID")
    first = numbers[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(n) for n in head + numbers[1:])


def private_key_pem(pkcs8: bytes) -> str:
    """A PKCS#8 private key (DER) as PEM."""
    lines = base64.encodebytes(pkcs8).decode("ascii").replace("\n", "")
    wrapped = "\n".join(lines[i : i + 64] for i in range(0, len(lines), 64))
    return f"-----BEGIN PRIVATE KEY-----\n{wrapped}\n-----END PRIVATE KEY-----\n"
