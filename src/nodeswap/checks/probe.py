"""R36 from this machine: one HTTP GET of the console (``probe``). Does I/O (urllib, ssl), so it
lives apart from the pure R36 analysis in ``console`` (the zone's own check runs curl on
firstbox: ``console.curl_command``; this probe serves tests and tools on the operator's side).
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request

from .console import MAX_BODY, Answer, check_url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def probe(url: str, timeout: float = 10.0, insecure: bool = False) -> Answer:
    """GET ``url`` once (no redirects followed, no proxies) and describe the answer.

    Only http:// and https:// URLs are accepted (``InputError`` otherwise).
    """
    check_url(url)
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=context),
        _NoRedirect(),
    )
    request = urllib.request.Request(  # noqa: S310 (scheme checked by check_url)
        url, headers={"User-Agent": "nodeswap-console-check"}
    )
    try:
        with opener.open(request, timeout=timeout) as resp:
            body = resp.read(MAX_BODY)
            return Answer(url, resp.status, len(body), resp.headers.get("Location"))
    except urllib.error.HTTPError as exc:  # 3xx (not followed), 4xx, 5xx: still an answer
        body = exc.read(MAX_BODY) if exc.fp is not None else b""
        return Answer(url, exc.code, len(body), exc.headers.get("Location"))
    except urllib.error.URLError as exc:
        return Answer(url, None, 0, error=_describe(exc.reason, timeout))
    except (TimeoutError, ssl.SSLError, OSError, http.client.HTTPException) as exc:
        return Answer(url, None, 0, error=_describe(exc, timeout))


def _describe(reason: object, timeout: float) -> str:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return (f"TLS error: {reason.verify_message or reason} (a self-signed console "
                "certificate needs --insecure)")
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {reason.reason or reason}"
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s (timeout)"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, http.client.HTTPException):
        return f"not an HTTP answer ({type(reason).__name__}: {reason})"
    return str(reason)
