"""The ``x509`` identity of a TLS client: its certificate's subject, as Java prints it.

Owns ``certificate_subject``: DER certificate in, distinguished name out, in the RFC 2253 form
of ``X500Principal.getName()`` (``X509AuthenticationProvider.getClientId``), because that string
is the id a client holds (whoAmI shows it) and writes into its ``x509`` ACLs. No I/O: the
driver hands over the bytes the TLS layer verified.

The form, from ``sun.security.x509.X500Name.getRFC2253Name`` and ``AVA.toRFC2253String``:

* relative names from the last in the certificate to the first, joined by ``,``; the
  attributes of a multi-valued one joined by ``+`` in their encoded order;
* each attribute ``KEYWORD=value``, with RFC 2253's keywords (CN, C, L, ST, O, OU, STREET,
  DC, UID) and the dotted object identifier for any other attribute type;
* a value of a string type (PrintableString, T61String, IA5String, GeneralString, BMPString,
  UTF8String), decoded, with ``, = + < > # ; " \\`` escaped by a backslash, NUL as ``\\00``,
  and leading or trailing spaces (and CRs) escaped; any other value, and every value of a
  dotted type, as ``#`` and the lower-case hex of its whole DER encoding.
"""

from __future__ import annotations

from reference.jute.primitives import java_utf8

# RFC 2253 keywords by object identifier (AVAKeyword entries marked RFC 2253 compliant).
RFC2253_KEYWORDS = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
_UTF8_STRING, _PRINTABLE, _T61, _IA5, _GENERAL, _BMP = 12, 19, 20, 22, 27, 30
_SEQUENCE, _SET, _OID, _CONTEXT_0 = 0x30, 0x31, 0x06, 0xA0
_STRING_TAGS = frozenset({_UTF8_STRING, _PRINTABLE, _T61, _IA5, _GENERAL, _BMP})
_ESCAPED = ',=+<>#;"\\'


class CertificateError(ValueError):
    """The bytes are not a DER certificate whose subject can be read."""


class _Der:
    """Tag-length-value elements of one DER buffer, read in order."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.at = start
        self.end = len(data) if end is None else end

    def done(self) -> bool:
        return self.at >= self.end

    def next(self) -> tuple[int, int, int, int]:
        """(tag, start of the element, start of its contents, end of the element)."""
        data, at = self.data, self.at
        if at + 2 > self.end:
            raise CertificateError("truncated DER element")
        tag, length = data[at], data[at + 1]
        if tag & 0x1F == 0x1F:
            raise CertificateError("multi-byte DER tags do not occur in a certificate name")
        content = at + 2
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 4 or content + count > self.end:
                raise CertificateError("bad DER length")
            length = int.from_bytes(data[content : content + count], "big")
            content += count
        end = content + length
        if end > self.end:
            raise CertificateError("DER element runs past its container")
        self.at = end
        return tag, at, content, end

    def enter(self, expected_tag: int) -> _Der:
        tag, _, content, end = self.next()
        if tag != expected_tag:
            raise CertificateError(f"DER tag 0x{tag:02x} where 0x{expected_tag:02x} belongs")
        return _Der(self.data, content, end)


def _oid_text(encoded: bytes) -> str:
    if not encoded:
        raise CertificateError("empty object identifier")
    numbers: list[int] = []
    value = 0
    for byte in encoded:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            numbers.append(value)
            value = 0
    if encoded[-1] & 0x80:
        raise CertificateError("truncated object identifier")
    first = numbers[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(n) for n in head + numbers[1:])


def _decoded(tag: int, content: bytes) -> str:
    if tag == _UTF8_STRING:
        return java_utf8(content)
    if tag == _BMP:
        return content.decode("utf-16-be", "replace")
    return content.decode("latin-1")


def _escape(text: str) -> str:
    """``AVA.toRFC2253String``'s escaping of a decoded value."""
    out = []
    for char in text:
        if char in _ESCAPED:
            out.append("\\" + char)
        elif char == "\0":
            out.append("\\00")
        else:
            out.append(char)
    lead = 0
    while lead < len(out) and out[lead] in (" ", "\r"):
        lead += 1
    trail = len(out) - 1
    while trail >= 0 and out[trail] in (" ", "\r"):
        trail -= 1
    return "".join("\\" + c if i < lead or i > trail else c for i, c in enumerate(out))


def _attribute(der: _Der) -> str:
    """One AttributeTypeAndValue in RFC 2253 form."""
    tag, _, content, end = der.next()
    if tag != _OID:
        raise CertificateError("an attribute type is an object identifier")
    oid = _oid_text(der.data[content:end])
    value_tag, value_start, value_content, value_end = der.next()
    if not der.done():
        raise CertificateError("an attribute has one type and one value")
    keyword = RFC2253_KEYWORDS.get(oid, oid)
    if keyword[0].isdigit() or value_tag not in _STRING_TAGS:
        return f"{keyword}=#{der.data[value_start:value_end].hex()}"
    return f"{keyword}={_escape(_decoded(value_tag, der.data[value_content:value_end]))}"


def name_rfc2253(name: bytes) -> str:
    """A DER ``Name`` (SEQUENCE OF SET OF AttributeTypeAndValue) as ``X500Principal.getName()``."""
    rdns: list[str] = []
    sequence = _Der(name).enter(_SEQUENCE)
    while not sequence.done():
        rdn = sequence.enter(_SET)
        attributes = []
        while not rdn.done():
            attributes.append(_attribute(rdn.enter(_SEQUENCE)))
        if not attributes:
            raise CertificateError("an empty relative name")
        rdns.append("+".join(attributes))
    return ",".join(reversed(rdns))


def certificate_subject(certificate: bytes) -> str:
    """The subject of a DER X.509 certificate, as ``X500Principal.getName()`` prints it;
    ``CertificateError`` if the bytes are not a certificate."""
    tbs = _Der(certificate).enter(_SEQUENCE).enter(_SEQUENCE)
    tag, _, _, _ = tbs.next()  # [0] version, or the serial number of a v1 certificate
    if tag == _CONTEXT_0:
        tbs.next()  # serial number
    for _ in ("signature", "issuer", "validity"):
        tbs.next()
    _, start, _, end = tbs.next()
    return name_rfc2253(certificate[start:end])
