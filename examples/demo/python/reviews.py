#!/usr/bin/env python3
"""shop/reviews: the demo's Python service, standard library only.

It embeds no Ward code: for every request it asks the node agent's local decision API
(`POST /v1/decide` over the agent's Unix socket, docs/decide-api.md) and either serves the
request or answers the status and problem body the agent returns.

Caller identity: this service terminates plain HTTP on loopback (Python's standard library has
no SPIFFE Workload API client to fetch an SVID with), so it takes its caller from the demo's
development header `x-ward-source`, as the demo's dev-header mode does: anyone on this host could
forge it. The agent, on the other hand, identifies THIS process by the kernel's peer credentials
(its uid and executable), so it answers only about calls into shop/reviews.

Environment: WARD_AGENT_SOCKET (the agent's socket), PORT (0: any free port), WARD_SERVICE
(default shop/reviews), HOST (default 127.0.0.1). Prints one JSON line per event on stdout:
{"listening": PORT} once, then {"decision": {...}} per request.
"""

import http.client
import http.server
import json
import os
import socket
import sys
import threading

SERVICE = os.environ.get("WARD_SERVICE", "shop/reviews")
AGENT_SOCKET = os.environ["WARD_AGENT_SOCKET"]
DEV_IDENTITY_HEADER = "x-ward-source"
PROBLEM_TYPE = "application/problem+json"

REVIEWS = {
    "sku-lamp": [{"user": "alice", "stars": 5, "text": "bright"}],
    "sku-desk": [{"user": "bob", "stars": 4, "text": "sturdy"}],
    "sku-chair": [{"user": "carol", "stars": 3, "text": "fine"}],
    "sku-shelf": [],
    "sku-rug": [{"user": "alice", "stars": 4, "text": "soft"}],
}
counts = {"allowed": 0, "would_deny": 0, "denied": 0, "unavailable": 0}
lock = threading.Lock()
out = threading.Lock()


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 to the agent over its Unix socket (docs/decide-api.md's client)."""

    def __init__(self, path):
        super().__init__("localhost", timeout=5)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.socket_path)


# One kept-alive connection per serving thread: keep-alive is what makes a decision cheap.
local = threading.local()


def ask_agent(question):
    """POSTs one decision request; returns (status, body). Reconnects once on a dropped connection."""
    body = json.dumps(question)
    for attempt in (0, 1):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = UnixHTTPConnection(AGENT_SOCKET)
        try:
            conn.request("POST", "/v1/decide", body, {"Content-Type": "application/json"})
            res = conn.getresponse()
            return res.status, json.loads(res.read() or b"null")
        except (OSError, http.client.HTTPException):
            conn.close()
            local.conn = None
            if attempt == 1:
                raise


def emit(event):
    with out:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for the callers too

    def log_message(self, format, *args):  # the decisions are the log (stdout), not access lines
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length > 0 else b""
        source = self.headers.get(DEV_IDENTITY_HEADER)
        target = self.path
        path, _, query = target.partition("?")
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        request = {"method": self.command, "path": path, "headers": headers}
        if query:
            request["query"] = query
        # No header: an anonymous caller (the policy decides what it may do).
        question = {"destination": SERVICE, "request": request}
        if source:
            question["source"] = {"service": source}
        try:
            status, decision = ask_agent(question)
        except (OSError, http.client.HTTPException, ValueError) as error:
            status, decision = 0, None
            problem = {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                       "detail": f"the node agent did not answer: {error}"}
        if status != 200:
            # No decision: fail closed. A 400 names what the caller sent wrong (e.g. a header that
            # is no service name); anything else (no bundle yet, unreachable) is a 503.
            with lock:
                counts["unavailable"] += 1
            if status != 0:
                problem = decision if isinstance(decision, dict) else {"status": status}
            emit({"decision": {"source": source, "method": self.command, "path": path,
                               "agentStatus": status, "code": problem.get("code")}})
            return self.reply(400 if status == 400 else 503, problem, PROBLEM_TYPE)
        kind = ("would_deny" if decision.get("dryRunDenied") else "allowed") \
            if decision["allowed"] else "denied"
        with lock:
            counts[kind] += 1
        emit({"decision": {"source": source, "method": self.command, "path": path,
                           "allowed": decision["allowed"], "effect": decision["effect"],
                           "enforced": decision["enforced"], "rule": decision["rule"],
                           "status": decision["status"], "revision": decision["revision"]}})
        if not decision["allowed"]:
            return self.reply(decision["status"], decision.get("problem") or {}, PROBLEM_TYPE)
        self.serve(path, payload)

    def serve(self, path, payload):
        parts = [p for p in path.split("/") if p]
        if self.command == "GET" and parts == ["metrics"]:
            with lock:
                text = "".join(
                    f'reviews_decisions_total{{kind="{k}"}} {v}\n' for k, v in counts.items())
            return self.reply(200, text.encode(), "text/plain; version=0.0.4")
        if len(parts) == 2 and parts[0] == "reviews" and parts[1] in REVIEWS:
            sku = parts[1]
            if self.command == "GET":
                return self.reply(200, {"sku": sku, "reviews": REVIEWS[sku][-10:]})
            if self.command == "POST":
                try:
                    review = json.loads(payload or b"{}")
                    entry = {"user": str(review.get("user", "anonymous")),
                             "stars": min(5, max(1, int(review.get("stars", 5)))),
                             "text": str(review.get("text", ""))[:200]}
                except (ValueError, TypeError, AttributeError):
                    return self.reply(400, {"error": "the body must be a JSON review"})
                REVIEWS[sku].append(entry)
                del REVIEWS[sku][:-100]
                return self.reply(201, {"sku": sku, "count": len(REVIEWS[sku])})
        return self.reply(404, {"error": "no such route"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


def main():
    server = http.server.ThreadingHTTPServer(
        (os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "0"))), Handler)
    server.daemon_threads = True
    emit({"listening": server.server_address[1]})
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
