"""A webservice VM's backends in a `--net netns` lab (issue 10): run by lab/proxyd.py as
``nsenter --net=/run/netns/NS python3 webserve.py --name N --zone Z --ports P...`` (stdlib
only, run by path: no package import), one process per VM while it is up.

Answers HTTP on every port given: on 80 the console page the proxies' haproxy forwards to the
VIP (``<title>QingCloud Console</title> ... zone Z via N``), on the others (api 7777, ws 8565,
io 8000, warehouse 8856) a one-line answer naming the service's VM. Must not: bind anything
but its own namespace's addresses (it binds 0.0.0.0 inside the VM's namespace).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def page(name: str, zone: str, port: int) -> bytes:
    if port == 80:
        return (f"<html><title>QingCloud Console</title><body>console of zone {zone} "
                f"via {name}</body></html>\n").encode()
    return f"{name}:{port} of zone {zone}\n".encode()


def handler(name: str, zone: str, port: int) -> type[BaseHTTPRequestHandler]:
    body = page(name, zone, port)

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "text/html" if port == 80 else "text/plain")
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Answer


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="webserve")
    ap.add_argument("--name", required=True)
    ap.add_argument("--zone", required=True)
    ap.add_argument("--marker", default="")  # the lab's record of this process (its cmdline)
    ap.add_argument("--ports", type=int, nargs="+", required=True)
    args = ap.parse_args(argv)
    servers = []
    for port in args.ports:
        srv = ThreadingHTTPServer(("0.0.0.0", port),  # noqa: S104 (the VM's namespace)
                                  handler(args.name, args.zone, port))
        srv.daemon_threads = True
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(f"webserve {args.name}: listening on {' '.join(map(str, args.ports))}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    for srv in servers:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
