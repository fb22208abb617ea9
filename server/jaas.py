"""JAAS login configuration files, read as the JDK reads them, for the server's SASL users.

Apache ZooKeeper runs SASL when the file named by ``java.security.auth.login.config`` has a
section named by ``zookeeper.sasl.serverconfig`` (``Server`` by default;
``ServerCnxnFactory.configureSaslLogin``). Its DIGEST-MD5 users are the options
``user_<name>="<password>"`` of that section's login modules
(``SaslServerCallbackHandler``)::

    Server {
        org.apache.zookeeper.server.auth.DigestLoginModule required
        user_super="adminsecret"
        user_bob="bobsecret";
    };

``parse_jaas`` reads the syntax of ``sun.security.provider.ConfigFile`` (its
``StreamTokenizer``: ``//`` and ``/* */`` comments, and a lone ``/`` comments out the rest of
its line; words of letters, digits, ``. $ _ - *``; strings in double or single quotes with
Java's escapes; ``Name { Module Flag key=value ...; ... };``). ``server_users`` turns the
server's section into users, and refuses what zkref does not run: Kerberos
(``Krb5LoginModule``: Apache would offer GSSAPI) and login modules it does not know (Apache's
login would fail at start). ``${property}`` expansion in values is refused too: zkref has no
Java system properties to expand.

Pure text in, values out: the caller reads the file.
"""

from __future__ import annotations

from dataclasses import dataclass

DIGEST_LOGIN_MODULE = "org.apache.zookeeper.server.auth.DigestLoginModule"
KERBEROS_LOGIN_MODULE = "com.sun.security.auth.module.Krb5LoginModule"
CONTROL_FLAGS = frozenset({"REQUIRED", "REQUISITE", "SUFFICIENT", "OPTIONAL"})
USER_PREFIX = "user_"
_PUNCTUATION = frozenset("{};=")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class JaasError(ValueError):
    """The JAAS file does not parse, or asks for what zkref does not run."""


@dataclass(frozen=True, slots=True)
class LoginModule:
    """One login module of a section: its class, control flag and options (in file order;
    a key given twice keeps its last value, as Java's HashMap does)."""

    class_name: str
    flag: str
    options: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word", "quoted", "punctuation", "number"
    text: str
    line: int


_NUMERIC = frozenset("0123456789.-")  # parseNumbers: these start a number, never a word


def _is_word_start(char: str) -> bool:
    return (char.isascii() and char.isalpha()) or ord(char) >= 160 or char in "$_*"


def _is_word_part(char: str) -> bool:
    return _is_word_start(char) or char in _NUMERIC


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    at, line = 0, 1
    while at < len(text):
        char = text[at]
        if char == "\n":
            line += 1
            at += 1
        elif ord(char) <= 32:
            at += 1
        elif char == "/" and text.startswith("/*", at):
            end = text.find("*/", at + 2)
            if end < 0:
                raise JaasError(f"line {line}: comment /* is not closed")
            line += text.count("\n", at, end)
            at = end + 2
        elif char == "/":
            end = text.find("\n", at)
            at = len(text) if end < 0 else end
        elif char in "\"'":
            value, at = _quoted(text, at + 1, char)
            tokens.append(_Token("quoted", value, line))
        elif char in _NUMERIC:
            start = at
            while at < len(text) and _is_word_part(text[at]):
                at += 1
            tokens.append(_Token("number", text[start:at], line))
        elif _is_word_start(char):
            start = at
            while at < len(text) and _is_word_part(text[at]):
                at += 1
            tokens.append(_Token("word", text[start:at], line))
        else:
            tokens.append(_Token("punctuation", char, line))
            at += 1
    return tokens


def _quoted(text: str, at: int, quote: str) -> tuple[str, int]:
    """A quoted string from just after its opening quote: ``StreamTokenizer`` ends it at the
    closing quote or at the end of the line, and reads C-like escapes and octal codes."""
    out: list[str] = []
    while at < len(text) and text[at] not in (quote, "\n", "\r"):
        char = text[at]
        at += 1
        if char != "\\" or at >= len(text):
            out.append(char)
            continue
        escaped = text[at]
        at += 1
        if escaped in "01234567":
            digits = escaped
            limit = 3 if escaped <= "3" else 2
            while len(digits) < limit and at < len(text) and text[at] in "01234567":
                digits += text[at]
                at += 1
            out.append(chr(int(digits, 8)))
        else:
            out.append(_ESCAPES.get(escaped, escaped))
    if at < len(text) and text[at] == quote:
        at += 1
    return "".join(out), at


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self, punctuation: str) -> bool:
        token = self.tokens[self.at] if self.at < len(self.tokens) else None
        return token is not None and token.kind == "punctuation" and token.text == punctuation

    def expect(self, what: str) -> str:
        if self.at >= len(self.tokens):
            raise JaasError(f"expected [{what}], read [end of file]")
        token = self.tokens[self.at]
        self.at += 1
        if what in _PUNCTUATION:
            if token.kind != "punctuation" or token.text != what:
                raise JaasError(f"line {token.line}: expected [{what}], found [{token.text}]")
        elif token.kind not in ("word", "quoted"):
            raise JaasError(f"line {token.line}: expected [{what}], found [{token.text}]")
        return token.text

    def sections(self) -> dict[str, tuple[LoginModule, ...]]:
        sections: dict[str, tuple[LoginModule, ...]] = {}
        while self.at < len(self.tokens):
            name = self.expect("application name")
            self.expect("{")
            modules: list[LoginModule] = []
            while not self.peek("}"):
                modules.append(self.module())
            self.expect("}")
            self.expect(";")
            if name in sections:
                raise JaasError(f"section {name!r} is given twice")
            sections[name] = tuple(modules)
        return sections

    def module(self) -> LoginModule:
        class_name = self.expect("module class name")
        flag = self.expect("control flag").upper()
        if flag not in CONTROL_FLAGS:
            raise JaasError(f"{class_name}: invalid control flag {flag!r}")
        options: dict[str, str] = {}
        while not self.peek(";"):
            key = self.expect("option key")
            self.expect("=")
            value = self.expect("option value")
            if "${" in value:
                raise JaasError(
                    f"{class_name}: option {key}={value!r}: ${{property}} expansion is not "
                    "supported by zkref; write the value itself"
                )
            options.pop(key, None)
            options[key] = value
        self.expect(";")
        return LoginModule(class_name, flag, tuple(options.items()))


def parse_jaas(text: str) -> dict[str, tuple[LoginModule, ...]]:
    """Every section of a JAAS configuration file, by name; ``JaasError`` if it does not
    parse (``ConfigFile`` would refuse it too)."""
    return _Parser(text).sections()


def server_users(
    sections: dict[str, tuple[LoginModule, ...]], section: str
) -> tuple[tuple[str, str], ...] | None:
    """The DIGEST-MD5 users of the server's section, in file order, or None if the file has
    no such section (the server runs no SASL). ``JaasError`` if the section asks for Kerberos
    or for a login module zkref does not know."""
    modules = sections.get(section)
    if modules is None:
        return None
    users: list[tuple[str, str]] = []
    for module in modules:
        if module.class_name == KERBEROS_LOGIN_MODULE:
            raise JaasError(
                f"section {section}: {KERBEROS_LOGIN_MODULE} asks for Kerberos (GSSAPI), "
                "which zkref does not support; use DIGEST-MD5 (DigestLoginModule)"
            )
        if module.class_name != DIGEST_LOGIN_MODULE:
            raise JaasError(
                f"section {section}: login module {module.class_name} is not supported by "
                f"zkref (only {DIGEST_LOGIN_MODULE})"
            )
        users.extend(
            (key[len(USER_PREFIX) :], value)
            for key, value in module.options
            if key.startswith(USER_PREFIX)
        )
    return tuple(users)
