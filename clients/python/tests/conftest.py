"""A stub Guise server, in memory, speaking the HTTP contract the client relies on: client
credentials, single-use webapp tickets exchanged for user tokens (RFC 8693) with scopes,
introspection, whoami, builds with their jobs, and paged rows."""

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

WEBAPP = "shop"
WEBAPP_NAME = "T-shirt shop"  # whoami names the webapp; tickets and introspection use its slug
PROJECT = "TSHIRTS"
TENANT = "tshirts"
CLIENT_ID = "webapp-shop"
CLIENT_SECRET = "shop-secret"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TICKET_TYPE = "urn:guise:params:oauth:token-type:webapp-ticket"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
DECLARED_SCOPES = ("datasets:read", "datasets:build")
USER_TOKEN_LIFETIME = 300
MASK = "••••••"

APP_ACCOUNT = {"id": 90, "email": "svc-shop@tshirts.example", "name": "Shop backend", "type": "service"}
USERS = {
    "u1@tshirts.example": {"id": 1, "name": "Uma One", "may_build": True, "masked": []},
    "viewer@tshirts.example": {"id": 2, "name": "Vic Viewer", "may_build": False, "masked": ["email"]},
}


def person(account):
    return {"id": account["id"], "email": account["email"], "name": account["name"]}


def user_account(email):
    return {"email": email, "type": "user", **USERS[email]}


class ApiError(Exception):
    def __init__(self, status, error, description, headers=None):
        super().__init__(description)
        self.status, self.error, self.description, self.headers = status, error, description, headers or {}


class StubGuise:
    """The server's state, plus what tests use to arrange and inspect it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tickets = {}  # ticket -> {"email", "webapp", "exp", "used"}
        self.tokens = {}  # token -> {"account", "scope", "exp", "actor"}
        self.jobs = {}
        self.next_job_id = 1
        self.datasets = {
            "orders": {
                "columns": ["id", "customer", "email", "total"],
                "rows": [[i, f"customer {i}", f"c{i}@example.com", 10 * i] for i in range(1, 8)],
                "generation": 1,
                "outcome": "Succeeded",
            },
            "broken": {"columns": ["id"], "rows": [], "generation": 1, "outcome": "Failed"},
            "slow": {"columns": ["id"], "rows": [], "generation": 1, "outcome": None},  # never ends
        }
        self.app_token_lifetime = 3600
        self.injected = []  # answers to give the next requests instead: (status, headers)
        self.hang_seconds = 0.0
        self.log = []  # every request: {"method", "path", "query", "form", "authorization"}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    # -- arranging and inspecting --------------------------------------------------------

    def issue_ticket(self, email="u1@tshirts.example", webapp=WEBAPP, lifetime=60):
        """What the proxy adds to a browser request as X-Guise-Ticket."""
        ticket = "tkt_" + secrets.token_urlsafe(16)
        with self.lock:
            self.tickets[ticket] = {"email": email, "webapp": webapp, "exp": time.time() + lifetime, "used": False}
        return ticket

    def headers_for(self, email="u1@tshirts.example", **kwargs):
        return {"X-Guise-Ticket": self.issue_ticket(email, **kwargs), "X-Guise-User-Email": email, "X-Guise-Webapp": WEBAPP}

    def requests_to(self, path, grant_type=None):
        return [r for r in self.log if r["path"] == path and (grant_type is None or r["form"].get("grant_type") == grant_type)]

    def rebuild(self, name):
        with self.lock:
            self.datasets[name]["generation"] += 1

    # -- answering -----------------------------------------------------------------------

    def handle(self, method, path, query, form, authorization):
        if self.hang_seconds:
            time.sleep(self.hang_seconds)
        with self.lock:
            if self.injected:
                status, headers = self.injected.pop(0)
                raise ApiError(status, "temporarily_unavailable", "the server is busy", headers)
            if (method, path) == ("POST", "/v2/auth/token"):
                return self.token(form, authorization)
            if (method, path) == ("POST", "/v2/auth/introspect"):
                return self.introspect(form, authorization)
            caller = self.bearer(authorization)
            parts = path.strip("/").split("/")
            if (method, path) == ("GET", "/v2/whoami"):
                return 200, self.whoami(caller)
            if method == "POST" and len(parts) == 4 and parts[:2] == ["v2", "datasets"] and parts[3] == "build":
                return self.build(caller, parts[2], query)
            if method == "GET" and len(parts) == 4 and parts[:2] == ["v2", "datasets"] and parts[3] == "rows":
                return 200, self.rows(caller, parts[2], query)
            if method == "GET" and len(parts) == 3 and parts[:2] == ["v2", "jobs"]:
                return 200, self.job(parts[2])
            raise ApiError(404, "not_found", f"no endpoint {method} {path}")

    def new_token(self, account, scope=None, lifetime=USER_TOKEN_LIFETIME, actor=None):
        token = "tok_" + secrets.token_urlsafe(16)
        self.tokens[token] = {"account": account, "scope": scope, "exp": time.time() + lifetime, "actor": actor}
        return token

    def bearer(self, authorization):
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(401, "invalid_token", "a bearer token is required")
        token = self.tokens.get(authorization[len("Bearer "):])
        if token is None or token["exp"] < time.time():
            raise ApiError(401, "invalid_token", "the token is unknown or expired")
        return token

    def app_caller(self, authorization):
        caller = self.bearer(authorization)
        if caller["account"] is not APP_ACCOUNT:
            raise ApiError(403, "insufficient_scope", "only the webapp's own token may do this")
        return caller

    def token(self, form, authorization):
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                raise ApiError(401, "invalid_client", "unknown client or wrong secret")
            token = self.new_token(APP_ACCOUNT, lifetime=self.app_token_lifetime)
            return 200, {"access_token": token, "token_type": "bearer", "expires_in": self.app_token_lifetime}
        if grant == TOKEN_EXCHANGE:
            self.app_caller(authorization)
            if form.get("actor_token") != authorization[len("Bearer "):]:
                raise ApiError(400, "invalid_request", "actor_token must be the bearer token")
            if form.get("actor_token_type") != ACCESS_TOKEN_TYPE or form.get("subject_token_type") != TICKET_TYPE:
                raise ApiError(400, "invalid_request", "unexpected token types")
            ticket = self.tickets.get(form.get("subject_token", ""))
            if ticket is None or ticket["used"] or ticket["exp"] < time.time() or ticket["webapp"] != WEBAPP:
                raise ApiError(400, "invalid_request", "subject_token: the ticket is unknown, expired or already used")
            requested = form.get("scope", " ".join(DECLARED_SCOPES)).split()
            if not requested or any(s not in DECLARED_SCOPES for s in requested):
                raise ApiError(400, "invalid_scope", f"the webapp may ask only for {' '.join(DECLARED_SCOPES)}")
            ticket["used"] = True
            scope = " ".join(requested)
            token = self.new_token(user_account(ticket["email"]), scope=scope, actor=APP_ACCOUNT)
            return 200, {"access_token": token, "token_type": "bearer", "expires_in": USER_TOKEN_LIFETIME,
                         "issued_token_type": ACCESS_TOKEN_TYPE, "scope": scope}
        raise ApiError(400, "unsupported_grant_type", f"grant_type {grant!r}")

    def introspect(self, form, authorization):
        self.app_caller(authorization)
        ticket = self.tickets.get(form.get("token", ""))
        if ticket is None or ticket["used"] or ticket["exp"] < time.time():
            return 200, {"active": False}
        user = USERS[ticket["email"]]
        return 200, {"active": True, "sub": ticket["email"], "email": ticket["email"], "name": user["name"],
                     "tenant": TENANT, "exp": int(ticket["exp"]), "webapp": ticket["webapp"]}

    def whoami(self, caller):
        account, actor = caller["account"], caller["actor"]
        return {
            **person(account), "accountType": account["type"], "admin": False, "tenant": TENANT, "clientId": CLIENT_ID,
            "impersonatedBy": None, "mode": "webapp" if actor else None,
            "delegationChain": [{"email": actor["email"], "clientId": CLIENT_ID}] if actor else [],
            "tokenExpiresAt": int(caller["exp"]), "webapp": WEBAPP_NAME, "scopes": caller["scope"],
        }

    def require_scope(self, caller, scope):
        if caller["scope"] is not None and scope not in caller["scope"].split():
            raise ApiError(403, "insufficient_scope", f"this token lacks the scope {scope}")

    def dataset(self, name, query):
        if query.get("project", PROJECT) != PROJECT:
            raise ApiError(404, "not_found", f"no project {query['project']}")
        if name not in self.datasets:
            raise ApiError(404, "not_found", f"project {PROJECT} has no dataset named {name}")
        return self.datasets[name]

    def build(self, caller, name, query):
        self.require_scope(caller, "datasets:build")
        dataset = self.dataset(name, query)
        account = caller["account"]
        may_build = account is APP_ACCOUNT or USERS[account["email"]]["may_build"]
        job = {
            "id": self.next_job_id, "project": PROJECT, "dataset": name,
            "status": "Queued" if may_build else "Refused", "runAs": person(account),
            "triggeredBy": person(account), "impersonatedBy": None,
            "via": f'webapp "{WEBAPP}"' if caller["actor"] else f"API client {CLIENT_ID}",
            "createdAt": int(time.time() * 1000), "startedAt": None, "finishedAt": None, "progress": 0.0,
            "rowsIn": None, "rowsOut": None, "error": None if may_build else f"{account['email']} may not build {name}",
            "log": [], "outcome": dataset["outcome"],
        }
        self.jobs[job["id"]] = job
        self.next_job_id += 1
        if not may_build:
            raise ApiError(403, "access_denied", f"{account['email']} may not build {PROJECT}.{name}")
        return 202, {"jobId": job["id"], "project": PROJECT, "dataset": name, "status": "queued",
                     "runAs": person(account), "job": f"/v2/jobs/{job['id']}"}

    def job(self, job_id):
        job = self.jobs.get(int(job_id)) if job_id.isdigit() else None
        if job is None:
            raise ApiError(404, "not_found", f"no job {job_id}")
        # Each look moves the job one step on: Queued, Running, then its outcome.
        now = int(time.time() * 1000)
        if job["status"] == "Queued":
            job.update(status="Running", startedAt=now, progress=0.5)
            job["log"].append({"at": now, "level": "info", "message": "started"})
        elif job["status"] == "Running" and job["outcome"]:
            job.update(status=job["outcome"], finishedAt=now, progress=1.0)
            if job["outcome"] == "Failed":
                job["error"] = "the recipe failed"
            else:
                job.update(rowsIn=7, rowsOut=7)
            job["log"].append({"at": now, "level": "info", "message": job["outcome"].lower()})
        return {k: v for k, v in job.items() if k != "outcome"}

    def rows(self, caller, name, query):
        self.require_scope(caller, "datasets:read")
        dataset = self.dataset(name, query)
        size = int(query.get("pageSize", 100))
        start = 0
        if "page" in query:
            generation, row = (int(part) for part in query["page"].split("."))
            if generation != dataset["generation"]:
                raise ApiError(409, "conflict", f"{name} was rebuilt since the previous page: read it again from the start")
            start = row
        masked = [] if caller["account"] is APP_ACCOUNT else USERS[caller["account"]["email"]]["masked"]
        hidden = [dataset["columns"].index(c) for c in masked]
        rows = [[MASK if i in hidden else cell for i, cell in enumerate(row)] for row in dataset["rows"][start:start + size]]
        end = start + size
        return {"project": PROJECT, "dataset": name, "columns": dataset["columns"], "rows": rows, "masked": masked,
                "nextPage": f"{dataset['generation']}.{end}" if end < len(dataset["rows"]) else None}

    # -- HTTP ----------------------------------------------------------------------------

    def _handler_class(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                form = {k: v[0] for k, v in parse_qs(body).items()}
                authorization = self.headers.get("Authorization")
                stub.log.append({"method": method, "path": url.path, "query": query, "form": form,
                                 "authorization": authorization})
                headers = {}
                try:
                    status, answer = stub.handle(method, url.path, query, form, authorization)
                except ApiError as e:
                    status, answer, headers = e.status, {"error": e.error, "error_description": e.description}, e.headers
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Cache-Control", "no-store")
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout test)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def log_message(self, *args):
                pass

        return Handler

    def start(self):
        # A short poll, so that stopping the server after each test is quick.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def guise_server(monkeypatch):
    """A fresh stub server per test, and the environment Guise gives a webapp backend."""
    stub = StubGuise()
    stub.start()
    for name, value in {
        "GUISE_URL": stub.url,
        "GUISE_CLIENT_ID": CLIENT_ID,
        "GUISE_CLIENT_SECRET": CLIENT_SECRET,
        "GUISE_PROJECT_KEY": PROJECT,
        "GUISE_WEBAPP_SLUG": WEBAPP,
        "GUISE_BACKEND_HOST": "127.0.0.1",
        "GUISE_BACKEND_PORT": "5000",
    }.items():
        monkeypatch.setenv(name, value)
    yield stub
    stub.stop()
