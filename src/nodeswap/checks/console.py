"""Console check (R36): the console URL must answer with a page, not an error. Does I/O.

Owns ``probe`` (one HTTP(S) GET with the standard library, redirects not followed, no
environment proxies), ``curl_command`` + ``parse_curl`` (the same check run *from the zone*,
e.g. on firstbox, by the executor) and ``judge`` (an ``Answer`` → findings, pure).

A page means: status 2xx with a non-empty body, or 3xx with a body or a ``Location`` (a
console commonly redirects ``/`` to its login page). Everything else is one *unexpected*
finding (rule R36) whose reason says plainly what happened: HTTP error status, empty page,
no answer within the timeout, connection refused, TLS error (with a hint when the zone uses
a self-signed certificate), not an HTTP answer.

Through the VIP (issue 10): when the console URL names a host (``https://console.example.com/``)
and the VIP is known, curl connects to the VIP with ``--resolve HOST:PORT:VIP`` (``pin``): the
request keeps its Host header and TLS server name (so the certificate is checked for that
name), whatever firstbox's resolver says about the name. A URL that is an address is asked
as it is.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _
from nodeswap.shell import cmd

from .findings import Difference

RULE = "R36"
MAX_BODY = 1024 * 1024
_CURL_TLS = frozenset({35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91})
_CURL_LAST = re.compile(r"^(?P<code>\d{3}) (?P<size>\d+(?:\.\d+)?)(?: (?P<location>\S+))?\s*$")
_CURL_ERR = re.compile(r"curl: \((?P<code>\d+)\) (?P<msg>.*)$")
_CURL_CERT = frozenset({51, 58, 60, 77, 83, 90, 91})  # the peer's certificate, not the link


@dataclass(frozen=True)
class Answer:
    """What the console URL answered: a status and body size, or an error."""

    url: str
    status: int | None
    body_bytes: int
    location: str | None = None
    error: str | None = None
    via: str | None = None  # the VIP the request went to (curl --resolve), if pinned


def judge(answer: Answer) -> list[Difference]:
    """No finding when the answer is a page; else one unexpected finding saying why."""
    reason = _problem(answer)
    if reason is None:
        return []
    shown = f"HTTP {answer.status}" if answer.status is not None else answer.error
    if answer.via:
        reason = _("through the VIP {vip}: {reason}").format(vip=answer.via, reason=reason)
    return [Difference(f"console {answer.url}", None, shown, None, None, "unexpected", RULE,
                       reason)]


def _problem(a: Answer) -> str | None:
    if a.error is not None:
        return _("the console did not answer: {error}").format(error=a.error)
    if a.status is None:
        return _("the console did not answer")
    if 200 <= a.status < 300:
        return None if a.body_bytes > 0 else _("HTTP {status} with an empty page").format(
            status=a.status)
    if 300 <= a.status < 400:
        if a.body_bytes > 0 or a.location:
            return None
        return _("HTTP {status} redirect without a body or Location").format(status=a.status)
    return _("HTTP {status}: an error, not the console page").format(status=a.status)


def check_url(url: str) -> None:
    """Refuse anything but an http(s) URL with a host."""
    if not re.match(r"^https?://[^/\s]+", url):
        raise InputError([Problem(_("console URL must be http:// or https://, got {url!r}").format(
            url=url),
                                  key="url", rule=RULE)])


def names_host(url: str) -> bool:
    """Whether ``url``'s host is a name (not an IP address)."""
    host = urllib.parse.urlsplit(url).hostname
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def pin(url: str, vip: str | None) -> str | None:
    """``HOST:PORT:VIP`` for curl's ``--resolve`` when ``url`` names a host (not an address:
    curl connects there, the Host header is that address) and the VIP is known, else None.
    The port is the URL's, or its scheme's default."""
    if not vip or not names_host(url):
        return None
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return f"{parts.hostname}:{port}:{f'[{vip}]' if ':' in vip else vip}"


def curl_command(url: str, timeout: float = 10.0, insecure: bool = False, *,
                 vip: str | None = None) -> str:
    """A shell command that runs the same check from a zone host with curl; through ``vip``
    when the URL names a host (``pin``).

    Prints ``<status> <body bytes> [<location>]`` on its last line; curl's own error, if
    any, goes to stderr (merge it: the executor passes both to ``parse_curl``).
    """
    args = ["curl", "-sS", "-o", "/dev/null", "--max-time", f"{timeout:g}",
            "-w", "%{http_code} %{size_download} %{redirect_url}\\n"]
    if insecure:
        args.append("-k")
    resolve = pin(url, vip)
    if resolve:
        args += ["--resolve", resolve]
    return cmd(*args, url) + " 2>&1"


def parse_curl(output: str, url: str, timeout: float = 10.0, *, via: str | None = None
               ) -> Answer:
    """Read ``curl_command``'s output back into an ``Answer`` (``via``: the VIP it was
    pinned to, said in the findings)."""
    error = None
    code = None
    for raw in output.splitlines():
        m = _CURL_ERR.search(raw)
        if m:
            code, error = int(m.group("code")), m.group("msg").strip()
    lines = [ln for ln in output.splitlines() if ln.strip()]
    last = _CURL_LAST.match(lines[-1].strip()) if lines else None
    if error is not None or last is None or last.group("code") == "000":
        return Answer(url, None, 0, error=_curl_error(code, error, timeout, output, url),
                      via=via)
    return Answer(url, int(last.group("code")), int(float(last.group("size"))),
                  last.group("location") or None, via=via)


def _curl_error(code: int | None, msg: str | None, timeout: float, output: str, url: str
                ) -> str:
    if code == 28:
        return _("no answer within {seconds:g} s (timeout: {error})").format(seconds=timeout,
                                                                              error=msg)
    if code in _CURL_CERT:
        host = urllib.parse.urlsplit(url).hostname or url
        return _("TLS error: the console's certificate failed verification for {host} "
                 "({error}): browsers see the same; it is self-signed, expired, for another "
                 "name, or its CA is not trusted on firstbox").format(host=host, error=msg)
    if code in _CURL_TLS:
        return _("TLS error: {error}").format(error=msg)
    if code == 7:
        return _("connection refused or unreachable: {error}").format(error=msg)
    if msg:
        return _("curl error {code}: {error}").format(code=code, error=msg)
    return _("unreadable curl output: {output!r}").format(output=output.strip()[-200:])
