"""A TLS client's ``x509`` id is its certificate's subject as ``X500Principal.getName()``
prints it (``reference.x509``).

The expected strings follow Java's rules (``X500Name.getRFC2253Name``,
``AVA.toRFC2253String``); ``tests/interop/test_sasl_tls.py`` presents the same certificates
to Apache ZooKeeper and compares the ids whoAmI lists.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

from reference.x509 import CertificateError, certificate_subject
from tests.support.certificates import CertificateAuthority, name

EMAIL = NameOID.EMAIL_ADDRESS
# Subjects, and the id Java gives each: relative names in reverse, RFC 2253 keywords, other
# types as OID=#hex of the DER value, special characters escaped.
SUBJECTS: list[tuple[x509.Name, str | None]] = [
    (name((NameOID.COMMON_NAME, "client")), "CN=client"),
    (
        name(
            (NameOID.COUNTRY_NAME, "US"),
            (NameOID.STATE_OR_PROVINCE_NAME, "CA"),
            (NameOID.LOCALITY_NAME, "SF"),
            (NameOID.ORGANIZATION_NAME, "Org"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "Unit"),
            (NameOID.COMMON_NAME, "name"),
        ),
        "CN=name,OU=Unit,O=Org,L=SF,ST=CA,C=US",
    ),
    (
        name((NameOID.COMMON_NAME, 'a,b+c="d"<e>;f\\g#h=i')),
        'CN=a\\,b\\+c\\=\\"d\\"\\<e\\>\\;f\\\\g\\#h\\=i',
    ),
    (name((NameOID.COMMON_NAME, " padded ")), "CN=\\ padded\\ "),
    (name((NameOID.COMMON_NAME, "Jörg Ünïcödé")), "CN=Jörg Ünïcödé"),
    (
        name((NameOID.DOMAIN_COMPONENT, "org"), (NameOID.USER_ID, "u1")),
        "UID=u1,DC=org",
    ),
    (
        name((NameOID.COMMON_NAME, "c"), (EMAIL, "a@b.c")),
        "1.2.840.113549.1.9.1=#16056140622e63,CN=c",
    ),
    (
        name((NameOID.SERIAL_NUMBER, "42"), (ObjectIdentifier("1.2.3.4"), "x")),
        "1.2.3.4=#0c0178,2.5.4.5=#13023432",
    ),
    (
        x509.Name(
            [
                x509.RelativeDistinguishedName(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, "a"),
                        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "b"),
                    ]
                )
            ]
        ),
        None,  # a multi-valued name: the attributes in their DER (SET OF) order
    ),
]


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.mark.parametrize("index", range(len(SUBJECTS)))
def test_the_subject_is_printed_as_java_prints_it(ca: CertificateAuthority, index: int) -> None:
    subject, expected = SUBJECTS[index]
    issued = ca.issue(subject)
    printed = certificate_subject(issued.der)
    if expected is None:
        assert printed in ("CN=a+OU=b", "OU=b+CN=a")
    else:
        assert printed == expected


def test_bytes_that_are_no_certificate_are_refused() -> None:
    for data in (b"", b"\x30\x03\x02\x01", b"\x04\x00", b"\x30\x80"):
        with pytest.raises(CertificateError):
            certificate_subject(data)
