"""R36: the console must answer with a page. Pure judging + a real http.server on 127.0.0.1."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from nodeswap.checks.console import Answer, curl_command, judge, parse_curl
from nodeswap.checks.probe import probe
from nodeswap.errors import InputError


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (Answer("u", 200, 10), None),
        (Answer("u", 302, 0, location="/login"), None),
        (Answer("u", 301, 5), None),
        (Answer("u", 200, 0), "empty page"),
        (Answer("u", 304, 0), "redirect without"),
        (Answer("u", 502, 300), "HTTP 502: an error"),
        (Answer("u", None, 0, error="connection refused"), "did not answer: connection refused"),
    ],
)
def test_judge(answer: Answer, problem: str | None) -> None:
    diffs = judge(answer)
    if problem is None:
        assert diffs == []
    else:
        assert len(diffs) == 1 and problem in diffs[0].reason and diffs[0].rule == "R36"


@pytest.mark.parametrize(
    ("output", "status", "error"),
    [
        ("200 5120 \n", 200, None),
        ("302 0 https://console.example/login\n", 302, None),
        ("curl: (28) Operation timed out after 10001 milliseconds\n000 0 \n", None, "timeout"),
        ("curl: (60) SSL certificate problem: self-signed certificate\n000 0 \n", None,
         "certificate failed verification for console.example (SSL certificate problem"),
        ("curl: (7) Failed to connect to 10.0.0.1 port 443\n000 0 \n", None, "refused"),
        ("garbage", None, "unreadable curl output"),
    ],
)
def test_parse_curl(output: str, status: int | None, error: str | None) -> None:
    answer = parse_curl(output, "https://console.example/")
    assert answer.status == status
    if error is None:
        assert answer.error is None
    else:
        assert answer.error is not None and error in answer.error


def test_curl_command_quotes_the_url() -> None:
    command = curl_command("http://x/a b;rm", timeout=5, insecure=True)
    assert command.endswith("-k 'http://x/a b;rm' 2>&1")
    assert "--max-time 5" in command


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes, dict[str, str]]]] = {
        "/": (200, b"<html>console</html>", {}),
        "/empty": (200, b"", {}),
        "/err": (502, b"<html>bad gateway</html>", {}),
        "/redir": (302, b"", {"Location": "/login"}),
    }

    def do_GET(self) -> None:
        status, body, headers = self.routes.get(self.path, (404, b"nope", {}))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    ("path", "status", "ok"),
    [("/", 200, True), ("/empty", 200, False), ("/err", 502, False), ("/redir", 302, True),
     ("/missing", 404, False)],
)
def test_probe_real_http_server(server: str, path: str, status: int, ok: bool) -> None:
    answer = probe(f"http://{server}{path}", timeout=5)
    assert answer.status == status and answer.error is None
    assert (judge(answer) == []) is ok


def test_probe_tls_against_plain_http_is_a_tls_error(server: str) -> None:
    answer = probe(f"https://{server}/", timeout=5)
    assert answer.status is None and answer.error is not None
    assert answer.error.startswith("TLS error")


def test_probe_timeout_is_reported_plainly() -> None:
    # A listening socket that never accepts: the connection completes (backlog), no answer.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        answer = probe(f"http://127.0.0.1:{port}/", timeout=0.3)
    assert answer.error == "no answer within 0.3 s (timeout)"


def test_probe_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    answer = probe(f"http://127.0.0.1:{port}/", timeout=2)
    assert answer.error == "connection refused"


def test_probe_refuses_other_schemes() -> None:
    with pytest.raises(InputError, match="http:// or https://"):
        probe("file:///etc/passwd")
