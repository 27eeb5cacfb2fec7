"""The backend's own token (client credentials), and the browser user's tokens it gets by
exchanging the tickets Guise's proxy adds to each request (RFC 8693)."""

import threading
import time
from collections import OrderedDict
from typing import Any, Dict, Iterable, Optional, Union

from . import _env, _http
from ._errors import GuiseException

TOKEN_PATH = "/v2/auth/token"
INTROSPECT_PATH = "/v2/auth/introspect"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TICKET_TYPE = "urn:guise:params:oauth:token-type:webapp-ticket"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"

RENEW_BEFORE = 30.0  # seconds before expiry at which the app token is renewed
EXCHANGED_CACHE_SIZE = 256

Scope = Union[None, str, Iterable[str]]


def normalize_scope(scope: Scope) -> Optional[str]:
    """`"a b"`, `["a", "b"]` and `None` as the space-separated form the token endpoint takes."""
    if scope is None:
        return None
    words = scope.split() if isinstance(scope, str) else [str(word) for word in scope]
    return " ".join(words) or None


class _Exchanged:
    def __init__(self, token: str, scope: Optional[str], expires_at: float):
        self.token, self.scope, self.expires_at = token, scope, expires_at


class Authenticator:
    """Tokens for one Guise server and one API client; safe to share between threads."""

    def __init__(self, settings: _env.Settings, cache_size: int = EXCHANGED_CACHE_SIZE):
        self.settings = settings
        self._app_lock = threading.Lock()
        self._app_token: Optional[str] = None
        self._app_renew_at = 0.0
        # A request's ticket is single-use: the user token it gave is kept so that entering the
        # impersonation context twice in one request does not exchange it twice.
        self._exchanged: "OrderedDict[str, _Exchanged]" = OrderedDict()
        self._exchanged_lock = threading.Lock()
        self._cache_size = cache_size

    def _post(self, path: str, data: Dict[str, str], token: Optional[str] = None) -> Any:
        return _http.call("POST", self.settings.url, path, token=token, data=data)

    def app_token(self) -> str:
        """The backend's own token, acting as its "Run backend as" account."""
        with self._app_lock:
            if self._app_token is None or time.monotonic() >= self._app_renew_at:
                body = self._post(TOKEN_PATH, {
                    "grant_type": "client_credentials",
                    "client_id": self.settings.client_id,
                    "client_secret": self.settings.client_secret,
                })
                lifetime = float(body.get("expires_in") or 0)
                self._app_token = body["access_token"]
                # A token shorter-lived than the margin is still used for half its life.
                self._app_renew_at = time.monotonic() + lifetime - min(RENEW_BEFORE, lifetime / 2)
            return self._app_token

    def exchange(self, ticket: str, scope: Scope = None) -> str:
        """A short-lived token acting as the browser user the ticket names."""
        scope = normalize_scope(scope)
        with self._exchanged_lock:
            known = self._exchanged.get(ticket)
            if known is not None and known.expires_at > time.monotonic():
                if known.scope != scope:
                    raise GuiseException(
                        None, "invalid_request",
                        f"this request's ticket was already exchanged for scope {known.scope!r}, not "
                        f"{scope!r}: a ticket is exchanged once, so use one scope per request",
                    )
                return known.token
        app_token = self.app_token()
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": ticket,
            "subject_token_type": TICKET_TYPE,
            "actor_token": app_token,
            "actor_token_type": ACCESS_TOKEN_TYPE,
        }
        if scope:
            form["scope"] = scope
        body = self._post(TOKEN_PATH, form, token=app_token)
        if body.get("issued_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
            raise GuiseException(None, "invalid_response", f"unexpected issued_token_type {body.get('issued_token_type')!r}")
        token = body["access_token"]
        with self._exchanged_lock:
            self._exchanged[ticket] = _Exchanged(token, scope, time.monotonic() + float(body.get("expires_in") or 0))
            while len(self._exchanged) > self._cache_size:
                self._exchanged.popitem(last=False)
        return token

    def introspect(self, ticket: str) -> Dict[str, Any]:
        """What Guise says of a ticket, without using it up: `{"active": false}` or its claims."""
        return self._post(INTROSPECT_PATH, {"token": ticket}, token=self.app_token())


_shared_lock = threading.Lock()
_shared: Optional[Authenticator] = None


def authenticator() -> Authenticator:
    """The process's authenticator for the current settings (a new one if they changed)."""
    global _shared
    current = _env.settings()
    with _shared_lock:
        if _shared is None or _shared.settings != current:
            _shared = Authenticator(current)
        return _shared
