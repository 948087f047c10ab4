"""The catalogue of secret forms (issue 14): each form with what it masks and what it leaves
alone, line-wise and across lines (private keys), and a property: a secret planted in any
fetched file, in any form of the catalogue, never reaches the redacted output."""

from __future__ import annotations

import io
import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from nodeswap.checks import haproxy, rcfiles
from nodeswap.cli import render as plan_view
from nodeswap.plan.model import NodePlan, Plan, Step, Target
from nodeswap.run.journal import OutputRecorder
from nodeswap.transport.redact import (
    FORMS,
    NAMED_KEY,
    NAMED_OPTION,
    PRIVATE_KEY,
    LineRedactor,
    Redactor,
    secret_name,
)

# (form, text, redacted text)
MASKED: list[tuple[str, str, str]] = [
    ("haproxy stats auth", "    stats auth admin:S3cretPass", "    stats auth admin:***"),
    ("haproxy stats auth", 'stats auth "admin:S3cret Pass"', 'stats auth "admin:***"'),
    ("haproxy stats auth", "+    stats auth ops:x9-y", "+    stats auth ops:***"),
    ("haproxy userlist password", "  user admin insecure-password S3cr3t",
     "  user admin insecure-password ***"),
    ("haproxy userlist password", "user bob password $6$salt$hash groups ops",
     "user bob password *** groups ops"),
    ("keepalived/redis password", "        auth_pass 1111", "        auth_pass ***"),
    ("keepalived/redis password", "requirepass f00bar", "requirepass ***"),
    ("curl -u user:pass", "curl -u backup:CurlPassw0rd http://10.16.0.9/b",
     "curl -u backup:*** http://10.16.0.9/b"),
    ("curl -u user:pass", "curl -sku backup:CurlPassw0rd http://x", "curl -sku backup:*** http://x"),
    ("curl -u user:pass", "curl -ubackup:pw1 http://x", "curl -ubackup:*** http://x"),
    ("curl -u user:pass", "curl --user backup:pw1 http://x", "curl --user backup:*** http://x"),
    ("curl -u user:pass", "wget --user=backup:pw1 http://x", "wget --user=backup:*** http://x"),
    ("curl -u user:pass", "curl --user 'backup:p w1' http://x", "curl --user 'backup:***' http://x"),
    ("curl -u user:pass", "curl -U proxy:pw2 http://x", "curl -U proxy:*** http://x"),
    ("url user:pass@", "git clone https://bob:hunter22@git.example/x.git",
     "git clone https://bob:***@git.example/x.git"),
    ("url user:pass@", "redis://:t0k@10.0.0.5:6379/0", "redis://:***@10.0.0.5:6379/0"),
    ("Authorization header", "Authorization: Basic YWRtaW46cGFzcw==", "Authorization: Basic ***"),
    ("Authorization header", "curl -H 'Authorization: Bearer eyJ.a.b' http://x",
     "curl -H 'Authorization: Bearer ***' http://x"),
    ("Authorization header", '{"Authorization": "Bearer abc123"}',
     '{"Authorization": "Bearer ***"}'),
    ("Authorization header", "proxy-authorization: xyz", "proxy-authorization: ***"),
    ("Authorization header", "Authorization: Basic YWRtaW46cGFzcw==\r\nHost: x\r\n",
     "Authorization: Basic ***\r\nHost: x\r\n"),
    ("Authorization header", "  http-request set-header Authorization \"Basic YWRtaW4=\"",
     "  http-request set-header Authorization \"Basic ***\""),
    ("Authorization header", "proxy_set_header Authorization 'Bearer t0k';",
     "proxy_set_header Authorization 'Bearer ***';"),
    ("mysql -pPASS", "mysql -uroot -pS3cr3t pitrix", "mysql -uroot -p*** pitrix"),
    ("mysql -pPASS", "mysqldump -h db -u root -pS3cr3t --all",
     "mysqldump -h db -u root -p*** --all"),
    ("sshpass -p", "sshpass -p S3cr3t ssh root@host", "sshpass -p *** ssh root@host"),
    ("netrc password", "machine h.example login bob password S3cr3t",
     "machine h.example login bob password ***"),
    ("sql identified by", "GRANT ALL ON *.* TO 'u'@'%' IDENTIFIED BY 'S3cr3t';",
     "GRANT ALL ON *.* TO 'u'@'%' IDENTIFIED BY '***';"),
    (NAMED_OPTION, "mysqldump --password=S3cr3t db", "mysqldump --password=*** db"),
    (NAMED_OPTION, "mysqldump --password S3cr3t db", "mysqldump --password *** db"),
    (NAMED_OPTION, "tool --api-token abc123 --verbose", "tool --api-token *** --verbose"),
    (NAMED_KEY, 'console_secret_key="S3cr3tKey"', 'console_secret_key="***"'),
    (NAMED_KEY, 'console_key_id="QYCONSOLEKEY"', 'console_key_id="***"'),
    (NAMED_KEY, "access_key_id: 'QYACCESSKEYID'", "access_key_id: '***'"),
    (NAMED_KEY, "  secret_access_key: S3cr3tAccess", "  secret_access_key: ***"),
    (NAMED_KEY, "qy_secret_access_key = S3cr3t", "qy_secret_access_key = ***"),
    (NAMED_KEY, '{"accessKeyId": "AK1", "password": "pw"}',
     '{"accessKeyId": "***", "password": "***"}'),
    (NAMED_KEY, "export DB_PASSWORD=S3cr3t MYSQL_PWD=pw2", "export DB_PASSWORD=*** MYSQL_PWD=***"),
    (NAMED_KEY, 'echo "password=abc"', 'echo "password=***"'),
    (NAMED_KEY, "X-Auth-Token: abc123", "X-Auth-Token: ***"),
    (NAMED_KEY, "http://api/?access_key_id=AK&signature=s1g&time=1",
     "http://api/?access_key_id=***&signature=***&time=1"),
    (PRIVATE_KEY, "-----BEGIN RSA PRIVATE KEY-----MIIEabc-----END RSA PRIVATE KEY-----",
     "-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY-----"),
    (PRIVATE_KEY, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\nAAAA==\n"
     "-----END OPENSSH PRIVATE KEY-----\nok",
     "-----BEGIN OPENSSH PRIVATE KEY-----\n***\n***\n-----END OPENSSH PRIVATE KEY-----\nok"),
    (PRIVATE_KEY, "content: |\n  -----BEGIN EC PRIVATE KEY-----\n  Proc-Type: 4,ENCRYPTED\n\n"
     "  MHcCAQEEIB\n  -----END EC PRIVATE KEY-----\n",
     "content: |\n  -----BEGIN EC PRIVATE KEY-----\n***\n***\n***\n-----END EC PRIVATE KEY-----\n"),
    (NAMED_KEY, "db:\n  password: |\n    S3cr3t line\n\n    two\n  user: bob\n",
     "db:\n  password: |\n***\n\n***\n  user: bob\n"),
    # a tail of output: the BEGIN line was cut off, the END line tells what the body was
    (PRIVATE_KEY, "MIIEowIBAAKCAQEAx1y2z3abcdefghij\nQWERTYuiop1234567890==\n"
     "-----END RSA PRIVATE KEY-----\ndone",
     "***\n***\n-----END RSA PRIVATE KEY-----\ndone"),
    # the block never ends: its body is masked up to the first line that is not key material
    (PRIVATE_KEY, "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n(cut here)",
     "-----BEGIN PRIVATE KEY-----\n***\n(cut here)"),
]

# (form, text left exactly as it is)
KEPT: list[tuple[str, str]] = [
    ("haproxy stats auth", "    stats uri /haproxy?stats"),
    ("haproxy stats auth", "    stats realm Haproxy\\ Statistics"),
    ("haproxy userlist password", "userlist admins"),
    ("haproxy userlist password", "    group ops users alice,bob"),
    ("keepalived/redis password", "    auth_type PASS"),
    ("curl -u user:pass", "date -u +%H:%M"),
    ("curl -u user:pass", "curl -u backup http://x"),
    ("curl -u user:pass", "sudo -u pitrix supervisorctl status"),
    ("curl -u user:pass", "rsync -au proxy0:/etc/haproxy/ ./backup/"),
    ("curl -u user:pass", "sort -u -t: -k2 /etc/passwd"),
    ("url user:pass@", "curl http://10.16.0.9:8080/path"),
    ("url user:pass@", "ssh://git@git.example:22/x.git"),
    ("Authorization header", "WWW-Authenticate: Basic realm=x"),
    ("Authorization header", "authorization failed for user bob"),
    ("Authorization header", "http-request del-header Authorization"),
    ("mysql -pPASS", "mysql -u root -p pitrix"),
    ("mysql -pPASS", "mkdir -p /pitrix/conf/settings"),
    ("mysql -pPASS", "ssh -p2222 root@host"),
    ("sshpass -p", "sshpass -f /root/.pw ssh root@host"),
    ("netrc password", "Failed password for root from 10.0.0.1 port 22 ssh2"),
    ("sql identified by", "rows identified: 3"),
    (NAMED_OPTION, "psql --no-password --host db"),
    (NAMED_OPTION, "ssh-keygen --key-file /root/.ssh/id_rsa"),
    (NAMED_OPTION, "tool --passive --bypass-cache yes"),
    (NAMED_KEY, 'mgmt_network_mac_address="00:16:3e:12:34:56"'),
    (NAMED_KEY, "mgmt_network_mac_address: 00:16:3e:12:34:56"),
    (NAMED_KEY, "link/ether 00:16:3e:aa:bb:cc brd ff:ff:ff:ff:ff:ff"),
    (NAMED_KEY, 'key_name="proxy-keypair" PWD=/root OLDPWD=/tmp'),
    (NAMED_KEY, "ssh_public_key: ssh-ed25519 AAAAC3Nza test"),
    (NAMED_KEY, "bypass=1 passive=yes keepalive_timeout=65 hotkey=F1"),
    (NAMED_KEY, 'password="" token='),
    (NAMED_KEY, "os_name=\"xenial\"\nos_version=\"16.04.5\""),
    (NAMED_KEY, "description: |\n  rotate the keys every year\nname: x"),
    (PRIVATE_KEY, "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----"),
    (PRIVATE_KEY, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINaRCD+C5zO23fd test"),
    (PRIVATE_KEY, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nnext line"),
]


@pytest.mark.parametrize(("form", "text", "want"), MASKED)
def test_form_is_masked(form: str, text: str, want: str) -> None:
    assert Redactor()(text) == want


@pytest.mark.parametrize(("form", "text"), KEPT)
def test_harmless_text_is_kept(form: str, text: str) -> None:
    assert Redactor()(text) == text


def test_every_form_has_a_masked_and_a_kept_example() -> None:
    assert {f for f, _, _ in MASKED} == set(FORMS)
    assert {f for f, _ in KEPT} == set(FORMS)


@pytest.mark.parametrize(("form", "text", "want"), MASKED)
def test_stream_gives_the_same_as_the_whole_text_in_any_chunking(
    form: str, text: str, want: str
) -> None:
    for size in (1, 3, 7, 64):
        lines = LineRedactor(Redactor())
        out = "".join(lines.feed(text[i : i + size]) for i in range(0, len(text), size))
        assert out + lines.flush() == want, size


@pytest.mark.parametrize(
    ("name", "secret"),
    [("console_secret_key", True), ("access_key_id", True), ("console_key_id", True),
     ("secret_access_key", True), ("accessKeyId", True), ("db_password", True),
     ("passwd", True), ("MYSQL_PWD", True), ("authtoken", True), ("api_key", True),
     ("mgmt_network_mac_address", False), ("PWD", False), ("key_name", False),
     ("ssh_public_key", False), ("password_file", False), ("bypass", False),
     ("keepalive", False), ("monkey", False), ("token_ttl", False), ("hostname", False)],
)  # fmt: skip
def test_secret_name(name: str, secret: bool) -> None:
    assert secret_name(name) is secret


def test_known_values_still_masked_and_idempotent() -> None:
    r = Redactor.of(["topsecret"])
    once = r("a topsecret b\nstats auth admin:S3cret\n")
    assert once == "a *** b\nstats auth admin:***\n"
    assert r(once) == once


def test_base64_lines_are_held_only_until_the_next_line() -> None:
    """A base64-looking line waits for the next line (it may precede an END marker), then
    comes out unchanged when that line ends no key."""
    lines = LineRedactor(Redactor())
    b64 = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n"
    assert lines.feed(b64) == ""
    assert lines.feed("plain\n") == b64 + "plain\n"
    assert lines.feed(b64) == "" and lines.flush() == b64


# ---- the property ------------------------------------------------------------------------------

# A secret: words of letters and digits (each with a digit), joined by punctuation a password
# may hold; the text around it has no ASCII digit, so a word found in the output leaked.
_WORD = st.text("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789",
                min_size=4, max_size=12).filter(lambda w: any(c.isdigit() for c in w))
_JOIN = st.sampled_from("!%+-._~,#*")
_AROUND = st.text(st.characters(blacklist_characters="0123456789", codec="utf-8"),
                  max_size=30)
USERS = ("admin", "backup", "ops")

# form templates: {u} a user, {s} the secret (PEM bodies are built below)
TEMPLATES = (
    "stats auth {u}:{s}", '    stats auth "{u}:{s}"', "user {u} insecure-password {s}",
    "user {u} password {s} groups ops", "auth_pass {s}", "requirepass {s}",
    "curl -u {u}:{s} http://h.example/x", "curl -sku {u}:{s} http://h.example/x",
    "curl --user {u}:{s} http://h.example", "wget --user={u}:{s} http://h.example",
    "curl --user '{u}:{s}' http://h.example", "https://{u}:{s}@db.example/x",
    "Authorization: Basic {s}", "curl -H 'Authorization: Bearer {s}' http://h.example",
    'http-request set-header Authorization "Basic {s}"',
    "mysql -u {u} -p{s} pitrix", "mysqldump --password={s} pitrix",
    "mysqldump --password {s} pitrix", "sshpass -p {s} ssh root@h.example",
    "machine h.example login {u} password {s}", "CREATE USER {u} IDENTIFIED BY '{s}';",
    'console_secret_key="{s}"', 'console_key_id="{s}"', "access_key_id: {s}",
    "secret_access_key: '{s}'", '{{"password": "{s}"}}', "qy_secret_access_key = {s}",
    "export DB_PASSWORD={s}", "X-Auth-Token: {s}",
)  # fmt: skip


PEM = "-----BEGIN {kind}PRIVATE KEY-----\n{body}==\n-----END {kind}PRIVATE KEY-----"


@st.composite
def planted(draw: st.DrawFn, template: str) -> tuple[str, list[str]]:
    """(file text, the secret's words): random lines around one line holding a secret in the
    form of ``template``."""
    words = draw(st.lists(_WORD, min_size=1, max_size=4))
    joins = draw(st.lists(_JOIN, min_size=len(words) - 1, max_size=len(words) - 1))
    secret = words[0] + "".join(j + w for j, w in zip(joins, words[1:], strict=True))
    if template == PEM:
        body = "\n".join("".join(words[i:] + words[:i]) for i in range(len(words)))
        kind = draw(st.sampled_from(("RSA ", "OPENSSH ", "EC ", "")))
        line = PEM.format(kind=kind, body=body)
    else:
        line = template.format(u=draw(st.sampled_from(USERS)), s=secret)
    indent = draw(st.sampled_from(("", "    ", "\t", "+ ", "- ")))
    before = draw(st.lists(_AROUND, max_size=4))
    after = draw(st.lists(_AROUND, max_size=4))
    suffix = draw(st.sampled_from(("", " # kept", "  ")))
    text = "\n".join([*before, indent + line + suffix, *after])
    return text + draw(st.sampled_from(("", "\n"))), words


@pytest.mark.parametrize("template", [*TEMPLATES, PEM])
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_a_planted_secret_never_reaches_the_output(template: str, data: st.DataObject) -> None:
    """Whole text and streamed in random chunks (as OutputRecorder stores it)."""
    text, words = data.draw(planted(template))
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(text)), max_size=8))
    whole = Redactor()(text)
    rec = OutputRecorder(Redactor())
    shown, last = "", 0
    for c in sorted(set(cuts)):
        shown += rec.feed("stdout", text[last:c])
        last = max(last, c)
    shown += rec.feed("stdout", text[last:])
    out_z, _, rest, _ = rec.finish()
    stored = zlib.decompress(out_z).decode()
    for w in words:
        assert w not in whole and w not in shown + rest and w not in stored, (w, whole)
    assert stored == whole


# ---- the checks' findings, as `nodeswap diff` shows them -------------------------------------


def test_r28_finding_shows_the_curl_line_masked() -> None:
    old = "ip route add 10.16.0.0/24 dev eth0\n"
    new = old + "curl -u backup:CurlPassw0rd http://10.16.0.9/b\n"
    (d,) = rcfiles.compare_text(old, new, section="rc.local.tail")
    assert (d.new, d.reason) == ("curl -u backup:*** http://10.16.0.9/b",
                                 "line only on the new node")
    assert "CurlPassw0rd" not in str(d) and "CurlPassw0rd" not in json.dumps(d.to_json())


def test_r28_a_line_differing_only_in_its_secret_says_so() -> None:
    (d,) = rcfiles.compare_text("curl -u backup:0ne http://h\n", "curl -u backup:tw0 http://h\n")
    assert d.old == d.new == "curl -u backup:*** http://h"
    assert d.reason == "line differs (in a secret, shown as ***)" and d.klass == "unexpected"


def test_r27_finding_masks_every_form_not_only_haproxys_own() -> None:
    cfg = "defaults\n    mode http\nbackend b\n    server s 10.0.0.1:80\n"
    added = "    http-request set-header Authorization \"Basic YWRtaW46cHc=\"\n"
    found = haproxy.compare_text(cfg, cfg + added)
    assert [d.new for d in found] == ['http-request set-header Authorization "Basic ***"']


# ---- plan output --------------------------------------------------------------------------------


def test_plan_human_view_masks_settings_and_commands() -> None:
    old = ('os_name="xenial"\nconsole_secret_key="0ldS3cret"\n'
           'mgmt_network_mac_address="00:16:3e:00:00:01"\n')
    new = old.replace("xenial", "bionic").replace("0ldS3cret", "N3wS3cret").replace(":01", ":02")
    node = NodePlan("proxy0", "10.16.0.2", "10.16.0.12", "10.16.0.5", "10.16.0.6", old, new,
                    "00:16:3e:00:00:02", None, None)
    t = Target("firstbox", "10.16.0.9", "firstbox", via_firstbox=False)
    step = Step("backup", "prepare", "R6", "back up", "firstbox",
                "mysqldump --password=Dump3rPw pitrix | gzip > /root/b.gz")
    plan = Plan("proxy", "4.3.1", ("bionic", "18.04.6"), {"proxy0": node}, {"firstbox": t},
                (step,))
    out = io.StringIO()
    plan_view.render(plan, Console(file=out, width=200))
    text = out.getvalue()
    for secret in ("0ldS3cret", "N3wS3cret", "Dump3rPw"):
        assert secret not in text
    assert "mysqldump --password=*** pitrix" in text
    assert '+mgmt_network_mac_address="00:16:3e:00:00:02"' in text  # MACs stay visible
    assert '+os_name="bionic"' in text
