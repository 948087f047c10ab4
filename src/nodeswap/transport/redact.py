"""Secrets: a masked value type and the redaction applied to every output that is kept.

Pure (no I/O). A ``Secret`` prints as ``***``; its value is reached only through ``reveal()``.
A ``Redactor`` replaces known secret values and the secret *forms* of ``CATALOGUE`` (the
ways a secret is written on a Pitrix node and in its tools) in text before it reaches the
journal, the events, the screen or a report. ``LineRedactor`` does the same on a stream,
line by line, and masks the body of a private key block across lines.

What stays visible: the user name next to a password (``stats auth admin:***``,
``curl -u backup:***``, ``https://user:***@host``), the name of every key, and every value
whose key does not name a secret (``mgmt_network_mac_address``, ``key_name``, ``PWD``...).
A key names a secret when one of its words (split at ``_ - .`` and camelCase) is password,
passwd, pass, passphrase, secret, token, key, credential(s), signature (or ends with
password/secret/token...), unless a word says it is public or its last word says it is not
the secret itself (``..._file``, ``..._path``, ``..._type``, ``..._name``...).

A secret YAML key whose value is a block scalar (``password: |``) has its next, more
indented lines masked (``LineRedactor``). Known limits: other values that continue on the
next lines are not masked; an unquoted value ends at whitespace, ``;`` or ``&``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

MASK = "***"


@dataclass(frozen=True)
class Secret:
    """A secret value: never shown by str/repr/format."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __format__(self, spec: str) -> str:
        return MASK


# ---- which names name a secret -------------------------------------------------------------

_SECRET_WORDS = frozenset({
    "password", "passwords", "passwd", "pass", "passphrase", "pwd", "secret", "secrets",
    "token", "tokens", "key", "keys", "apikey", "privkey", "privatekey", "secretkey",
    "accesskey", "credential", "credentials", "creds", "signature",
})  # fmt: skip
_SECRET_ENDINGS = ("password", "passwd", "passphrase", "secret", "token", "apikey",
                   "secretkey", "accesskey", "privkey")  # e.g. dbpassword, authtoken
_PUBLIC_WORDS = frozenset({"public", "pub", "pubkey"})
# The last word of a name that is about a secret but is not the secret itself.
_NOT_THE_SECRET = frozenset({
    "file", "files", "path", "dir", "type", "types", "name", "names", "size", "bits", "len",
    "length", "format", "algo", "algorithm", "fingerprint", "url", "uri", "ttl", "expiry",
    "expires", "timeout", "policy",
})  # fmt: skip
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def secret_name(name: str) -> bool:
    """Whether a settings/config/option key ``name`` names a secret (see the module doc).
    ``PWD`` alone is the shell's working folder, not a password."""
    words = [w for w in re.split(r"[^a-z0-9]+", _CAMEL.sub("_", name).lower()) if w]
    if not words or any(w in _PUBLIC_WORDS for w in words):
        return False
    if len(words) > 1 and words[-1] in _NOT_THE_SECRET:
        return False
    if words == ["pwd"]:
        return False
    return any(w in _SECRET_WORDS or w.endswith(_SECRET_ENDINGS) for w in words)


# ---- the catalogue of secret forms ---------------------------------------------------------

Replace = Callable[["re.Match[str]"], str]


def _mask(val: str) -> str:
    """``val`` masked; a quoted value keeps its quotes, an empty quoted value stays empty."""
    if val[:1] in "\"'" and len(val) >= 2 and val[-1] == val[0]:
        return val[0] + (MASK if len(val) > 2 else "") + val[0]
    return MASK


def _keep_pre(m: re.Match[str]) -> str:
    """``pre`` kept, ``val`` masked."""
    return m.group("pre") + _mask(m.group("val"))


@dataclass(frozen=True)
class Form:
    """One way a secret is written: ``pattern`` finds it, ``replace`` masks the secret part."""

    name: str
    pattern: re.Pattern[str]
    replace: Replace = _keep_pre

    def __call__(self, line: str) -> str:
        return self.pattern.sub(self.replace, line)


# A value: double- or single-quoted (to the closing quote or the end of the line), or a word.
_VAL = r"(?P<val>\"[^\"\n]*\"?|'[^'\n]*'?|[^\s;&]+)"
# The rest of a word that followed an opening quote `q`: up to the closing quote.
_QVAL = r"(?P<val>(?(q)[^\"'\n]*|[^\s\"']+))"

CATALOGUE: tuple[Form, ...] = (
    # haproxy: stats auth USER:PASS (USER stays visible)
    Form("haproxy stats auth", re.compile(
        r"(?P<pre>\bstats\s+auth\s+(?P<q>[\"'])?[^\s:\"']*:)" + _QVAL)),
    # haproxy userlist: user NAME password HASH / insecure-password PASS
    Form("haproxy userlist password", re.compile(
        r"(?P<pre>\buser\s+\S+\s+(?:insecure-)?password\s+)" + _VAL)),
    # keepalived vrrp: auth_pass PASS; redis: requirepass / masterauth PASS
    Form("keepalived/redis password", re.compile(
        r"(?P<pre>\b(?:auth_pass|requirepass|masterauth|masterpass)\s+)" + _VAL)),
    # curl/wget: -u USER:PASS, -uUSER:PASS, -sku USER:PASS, --user USER:PASS, --user=...,
    # -U/--proxy-user (USER stays visible; not `rsync -au host:/path`, `sort -u -t:`)
    Form("curl -u user:pass", re.compile(
        r"(?P<pre>(?<![\w-])(?:-[A-Za-z]*[uU][ \t]*|--(?:proxy-)?user(?:=|[ \t]+))"
        r"(?P<q>[\"'])?(?:[\w.@][\w.@%+-]*)?:)(?!/)" + _QVAL)),
    # scheme://USER:PASS@host (USER stays visible; PASS may be empty)
    Form("url user:pass@", re.compile(
        r"(?P<pre>\b[A-Za-z][\w+.-]*://[^\s/:@\"'<>]*:)(?P<val>[^\s/@\"'<>]+)(?=@)")),
    # Authorization / Proxy-Authorization headers: the scheme stays, its credentials go
    # (in a JSON or shell string too: the credentials end at a quote or the end of the line;
    # haproxy/nginx `http-request set-header Authorization "Basic ..."`: no colon)
    Form("Authorization header", re.compile(
        r"(?P<pre>(?:\b(?:Proxy-)?Authorization[\"']?[ \t]*:"
        r"|(?:\b|(?<=_))(?:set|add)[-_]header[ \t]+(?:Proxy-)?Authorization[ \t])[ \t]*[\"']?"
        r"(?:(?:Basic|Bearer|Digest|Token|Negotiate|NTLM|QC|QS)[ \t]+)?)"
        r"(?P<val>[^\"'\r\n]+)", re.IGNORECASE)),
    # mysql family: -pPASS glued to -p (mysql -p alone prompts; `-p X` is a database name)
    Form("mysql -pPASS", re.compile(
        r"(?P<pre>\b(?:mysql\w*|mariadb[\w-]*)\b[^\n;|&]*?[ \t]-p)(?P<val>[^\s;&|]+)")),
    # sshpass -p PASS / -pPASS
    Form("sshpass -p", re.compile(r"(?P<pre>\bsshpass\b[^\n;|&]*?[ \t]-p[ \t]*)" + _VAL)),
    # ~/.netrc: machine HOST login USER password PASS
    Form("netrc password", re.compile(
        r"(?P<pre>\b(?:machine|login|default)\b[^\n]*?\bpassword[ \t]+)" + _VAL)),
    # SQL: IDENTIFIED BY 'PASS' / IDENTIFIED WITH plugin BY 'PASS'
    Form("sql identified by", re.compile(
        r"(?P<pre>\bidentified\s+(?:with\s+\S+\s+)?by\s+)" + _VAL, re.IGNORECASE)),
)

# The forms found outside CATALOGUE: by the name of their key, and across lines.
NAMED_OPTION = "option --NAME VALUE"
NAMED_KEY = "NAME=VALUE / NAME: VALUE"
PRIVATE_KEY = "private key block"
FORMS = (*(f.name for f in CATALOGUE), NAMED_OPTION, NAMED_KEY, PRIVATE_KEY)

# --NAME=VALUE / --NAME VALUE / -NAME VALUE for an option that names a secret
_OPTION = re.compile(r"(?<![\w-])--?(?P<name>[A-Za-z][\w-]*)(?P<sep>=|[ \t]+)")
# NAME=VALUE, NAME: VALUE, "NAME": VALUE, NAME => VALUE (settings, YAML, JSON, ini, env, URLs)
_ASSIGN = re.compile(
    r"(?<![\w.$-])(?P<q>[\"']?)(?P<name>[A-Za-z_][\w.-]*)(?P=q)[ \t]*(?:=>|=|:(?!//))[ \t]*"
)
_VALUE = re.compile(_VAL)
_YAML_BLOCK = re.compile(r"[|>][-+0-9]*")
# A YAML key whose value is a block scalar on the next, more indented lines
_YAML_BLOCK_KEY = re.compile(
    r"(?P<indent>[ \t]*)(?:-[ \t]+)?(?P<q>[\"']?)(?P<name>[A-Za-z_][\w.-]*)(?P=q)[ \t]*:"
    r"[ \t]*[|>][-+0-9]*[ \t]*(?:#.*)?"
)
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----")
_PEM_INLINE = re.compile(rf"(?P<pre>{_PEM_BEGIN.pattern})(?P<val>.*?)(?={_PEM_END.pattern})")


def _named(line: str, finder: re.Pattern[str], *, option: bool) -> str:
    """Mask the value after each ``finder`` match whose name names a secret."""
    out: list[str] = []
    pos = 0
    for m in finder.finditer(line):
        if m.start() < pos or not secret_name(m.group("name")):
            continue
        v = _VALUE.match(line, m.end())
        if v is None:
            continue
        val = v.group("val")
        if not option and _YAML_BLOCK.fullmatch(val):
            continue  # YAML `key: |`: the value is on the next lines (LineRedactor)
        if option and m.group("sep") != "=" and val.startswith("--"):
            continue  # --no-password --host x: a flag, then another option
        if val[:1] not in "\"'":  # a word: a quote closing an outer string stays outside
            val = val.rstrip("\"'") or val
        out += [line[pos : m.end()], _mask(val)]
        pos = m.end() + len(val)
    return "".join(out) + line[pos:]


def redact_line(line: str, values: Iterable[str] = ()) -> str:
    """One line with known ``values`` and every secret form masked; a private key block
    that begins and ends on this line too. Multi-line blocks need ``LineRedactor``."""
    for v in values:
        line = line.replace(v, MASK)
    line = _PEM_INLINE.sub(lambda m: m.group("pre") + MASK, line)
    for form in CATALOGUE:
        line = form(line)
    line = _named(line, _OPTION, option=True)
    return _named(line, _ASSIGN, option=False)


@dataclass(frozen=True)
class Redactor:
    """Masks known secret values (longest first) and the forms of ``CATALOGUE``.

    ``redactor(text)`` takes any text (several lines: private key blocks across lines are
    masked too); ``redactor.line(text)`` one line."""

    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, secrets: Iterable[Secret | str]) -> Redactor:
        vals = {s.reveal() if isinstance(s, Secret) else s for s in secrets}
        return cls(tuple(sorted((v for v in vals if len(v) >= 3), key=len, reverse=True)))

    def line(self, text: str) -> str:
        return redact_line(text, self.values)

    def __call__(self, text: str) -> str:
        for v in self.values:  # a known value that spans lines
            text = text.replace(v, MASK)
        lines = LineRedactor(self)
        return lines.feed(text) + lines.flush()


_B64_LINE = re.compile(r"[A-Za-z0-9+/]+=*")
_PEM_HEADER = re.compile(r"[A-Za-z][\w-]*:[ \t].*")  # Proc-Type: 4,ENCRYPTED / DEK-Info: ...


def _key_body(line: str) -> bool:
    """Could ``line`` be inside a private key block (base64, a header, blank)? Quotes,
    commas and backslashes around it (a key inside a string) do not count."""
    core = line.strip().strip("\"',\\")
    return not core or bool(_B64_LINE.fullmatch(core) or _PEM_HEADER.fullmatch(core))


def _held(line: str) -> bool:
    """A line that may be the body of a key whose BEGIN was cut off (a tail of output)."""
    core = line.strip()
    return bool(_B64_LINE.fullmatch(core)) and (len(core) >= 16 or core.endswith("="))


class LineRedactor:
    """Streaming redaction, line by line, whatever the chunking: a secret split across two
    chunks is still found, and the body of a private key block is masked across lines
    (from its BEGIN line to its END line, or to the first line that cannot be key material).
    Base64-looking lines are held back until the next other line: if that one ends a private
    key (its BEGIN cut off, as in a tail), they are masked too. ``feed`` returns the redacted
    complete lines; ``flush`` the rest."""

    def __init__(self, redactor: Redactor) -> None:
        self._redact = redactor
        self._pending = ""
        self._in_key = False
        self._held: list[str] = []
        self._block: int | None = None  # indent of a secret YAML key whose block we are in

    def feed(self, chunk: str) -> str:
        text = self._pending + chunk
        cut = text.rfind("\n") + 1
        self._pending = text[cut:]
        if len(self._pending) > 64 * 1024:  # a huge line without newline: do not hold it all
            cut, self._pending = len(text), ""
        return "".join(self._line(ln) for ln in text[:cut].splitlines(keepends=True))

    @staticmethod
    def _masked(line: str) -> str:
        return MASK + line[len(line.rstrip("\r\n")) :]

    def _release(self) -> str:
        out = "".join(self._redact.line(h) for h in self._held)
        self._held = []
        return out

    def _line(self, line: str) -> str:
        if self._block is not None:
            if not line.strip():
                return line
            if len(line) - len(line.lstrip(" \t")) > self._block:
                return self._masked(line)
            self._block = None
        if self._in_key:
            end = _PEM_END.search(line)
            if end is not None:
                self._in_key = False
                return self._redact.line(line[end.start() :])
            if _key_body(line):
                return self._masked(line)
            self._in_key = False  # the block was cut short: this line is not key material
        end = _PEM_END.search(line)
        begin = _PEM_BEGIN.search(line)
        if end is not None and (begin is None or begin.start() > end.start()):
            # the END of a block whose BEGIN was not seen: what was held was its body
            masked = "".join(self._masked(h) for h in self._held)
            self._held = []
            return masked + self._line_outside(line)
        if begin is None and _held(line):
            self._held.append(line)
            return ""
        return self._release() + self._line_outside(line)

    def _line_outside(self, line: str) -> str:
        """A line outside any key block (a block may begin on it)."""
        block = _YAML_BLOCK_KEY.fullmatch(line.rstrip("\r\n"))
        if block is not None and secret_name(block.group("name")):
            self._block = len(block.group("indent"))
        begin = _PEM_BEGIN.search(line)
        if begin is None or _PEM_END.search(line, begin.end()):
            return self._redact.line(line)
        # a block begins here and does not end on this line
        self._in_key = True
        rest = line[begin.end() :]
        tail = self._masked(rest) if rest.strip() else rest
        return self._redact.line(line[: begin.end()]) + tail

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        out = self._line(rest) if rest else ""
        return out + self._release()
