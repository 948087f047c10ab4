"""R36 through the VIP (issue 10): a console URL that names a host is asked of the VIP with
``curl --resolve HOST:PORT:VIP``, so the request keeps its Host header and TLS server name; a
certificate that fails verification is said plainly. Pure command building and parsing, then
the real curl against servers on 127.0.0.1 (the "VIP")."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from zonekit import make_spec, make_zone

from nodeswap.checks import analyze
from nodeswap.checks.console import curl_command, names_host, parse_curl, pin
from nodeswap.plan.build import build_plan

NAME = "console.example.test"  # .test: never resolved; curl's --resolve is the only way


@pytest.mark.parametrize(("url", "vip", "want"), [
    ("https://console.example.com/", "10.16.100.20", "console.example.com:443:10.16.100.20"),
    ("http://console.example.com/", "10.16.100.20", "console.example.com:80:10.16.100.20"),
    ("http://console.example.com:8080/x", "10.16.100.20",
     "console.example.com:8080:10.16.100.20"),
    ("http://console.example.com/", "fd00::20", "console.example.com:80:[fd00::20]"),
    ("http://10.16.100.20/", "10.16.100.20", None),  # an address: asked as it is
    ("http://10.16.100.30/", "10.16.100.20", None),
    ("http://[fd00::20]/", "fd00::20", None),
    ("https://console.example.com/", None, None),  # no VIP known: by name
    ("http://console.example.com:99999/", "10.16.100.20", None),  # no valid port
])
def test_pin(url: str, vip: str | None, want: str | None) -> None:
    assert pin(url, vip) == want
    assert names_host(url) == ("console.example.com" in url)


def test_the_command_pins_the_name_to_the_vip_and_quotes_it() -> None:
    command = curl_command("https://console.example.com/", timeout=5, vip="10.16.100.20")
    assert command.endswith("--resolve console.example.com:443:10.16.100.20 "
                            "https://console.example.com/ 2>&1")
    assert "--resolve" not in curl_command("http://10.16.100.20/", vip="10.16.100.20")


def test_findings_say_through_the_vip_and_explain_a_certificate() -> None:
    out = "curl: (60) SSL certificate problem: self-signed certificate\n000 0 \n"
    answer = parse_curl(out, "https://console.example.com/", via="10.16.100.20")
    assert answer.via == "10.16.100.20" and answer.error is not None
    assert "certificate failed verification for console.example.com" in answer.error
    res = analyze("console", out, None, {"url": "https://console.example.com/",
                                         "via": "10.16.100.20"})
    (f,) = res.findings
    assert f.reason.startswith("through the VIP 10.16.100.20: the console did not answer: "
                               "TLS error: the console's certificate"), f.reason
    assert "self-signed" in f.reason and f.rule == "R36"
    plain = analyze("console", "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL\n000 0 \n",
                    None, {"url": "https://console.example.com/"})
    assert plain.findings[0].reason == ("the console did not answer: TLS error: OpenSSL "
                                        "SSL_connect: SSL_ERROR_SYSCALL")


@pytest.mark.parametrize("vip", ["10.16.100.20", None])
def test_the_plan_asks_the_console_by_name_through_the_vip(vip: str | None) -> None:
    """R36 and R32's last look: with the VIP known, the console's name is pinned to it (title,
    command, analysis option); without it the plan says the check goes by name."""
    url = "https://console.example.com/"
    spec = make_spec(seed=1, console_url=url, **({"vip": vip} if vip else {}))
    plan = build_plan(make_zone("novg"), spec, today="20261202")
    console = [s for s in plan.steps if s.analysis and s.analysis.kind == "console"]
    assert len(console) == 2 * len(plan.nodes)  # R32's last look and R36, per switch
    for step in console:
        assert step.analysis is not None
        opts = dict(step.analysis.options)
        if vip:
            assert f"--resolve console.example.com:443:{vip} {url}" in step.command
            assert opts["via"] == vip and f"through the VIP {vip}" in step.title
        else:
            assert "--resolve" not in step.command and "via" not in opts
    warned = [w for w in plan.warnings if w.startswith(f"R36: the console URL {url} names")]
    assert len(warned) == (0 if vip else 1)


class _Console(http.server.BaseHTTPRequestHandler):
    """A console that serves only its own name (like a name-based virtual host)."""

    hosts: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        host = self.headers.get("Host", "")
        self.hosts.append(host)
        ok = host.split(":")[0] == NAME
        body = b"<html>console</html>" if ok else b"no such site"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(tls: ssl.SSLContext | None) -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Console)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def plain() -> Iterator[int]:
    yield from _serve(None)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "crt.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True,
                   timeout=60)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    yield from _serve(ctx)


def _curl(url: str, vip: str | None) -> str:
    res = subprocess.run(["bash", "-c", curl_command(url, timeout=5, vip=vip)],
                         capture_output=True, text=True, timeout=30, check=False)
    return res.stdout


def test_curl_through_the_vip_keeps_the_host_header(plain: int) -> None:
    url = f"http://{NAME}:{plain}/"
    _Console.hosts.clear()
    ok = analyze("console", _curl(url, "127.0.0.1"), None, {"url": url, "via": "127.0.0.1"})
    assert ok.findings == () and _Console.hosts == [f"{NAME}:{plain}"]
    # asked by address, the virtual host is not found: the Host header is what matters
    by_address = f"http://127.0.0.1:{plain}/"
    (f,) = analyze("console", _curl(by_address, "127.0.0.1"), None, {"url": by_address}).findings
    assert "HTTP 404" in f.reason
    # unpinned, the name does not resolve (.test): curl says so
    (g,) = analyze("console", _curl(url, None), None, {"url": url}).findings
    assert "curl error 6" in g.reason


def test_https_through_the_vip_says_when_the_certificate_fails(self_signed: int) -> None:
    url = f"https://{NAME}:{self_signed}/"
    out = _curl(url, "127.0.0.1")
    (f,) = analyze("console", out, None, {"url": url, "via": "127.0.0.1"}).findings
    assert f.reason.startswith("through the VIP 127.0.0.1: the console did not answer: TLS "
                               f"error: the console's certificate failed verification for "
                               f"{NAME}"), f.reason
    insecure = subprocess.run(["bash", "-c", curl_command(url, timeout=5, insecure=True,
                                                          vip="127.0.0.1")],
                              capture_output=True, text=True, timeout=30, check=False)
    assert analyze("console", insecure.stdout, None, {"url": url}).findings == ()
