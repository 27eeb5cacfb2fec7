"""Acting as the browser user of the current request, for the code inside a `with` block."""

import sys
from contextvars import ContextVar
from typing import Any, List, Optional

from ._auth import Scope, authenticator
from ._errors import GuiseException

TICKET_HEADER = "X-Guise-Ticket"

# A ContextVar rather than a thread-local: correct for asyncio too, and a thread started
# inside the block does not inherit it (it acts as the backend's own account).
_user_token: ContextVar[Optional[str]] = ContextVar("guise_user_token", default=None)


def current_user_token() -> Optional[str]:
    """The browser user's token inside an impersonation context, else None."""
    return _user_token.get()


def header(headers: Any, name: str) -> Optional[str]:
    """A header from a dict, a Flask/Werkzeug headers object or a list of pairs, whatever its case."""
    items = headers.items() if hasattr(headers, "items") else headers
    wanted = name.lower()
    for key, value in items:
        if str(key).lower() == wanted:
            return value
    return None


def ticket_from(headers: Any) -> str:
    ticket = header(headers, TICKET_HEADER)
    if not ticket:
        raise GuiseException(
            None, "missing_ticket",
            f"the request has no {TICKET_HEADER} header: it did not come through Guise's proxy, "
            "so there is no browser user to act as",
        )
    return ticket


def flask_request_headers() -> Optional[Any]:
    """The headers of the Flask request being handled, if any. Flask stays optional: a backend
    handling a Flask request has imported it already, so it is never imported here."""
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return None
    return flask.request.headers


class WebappImpersonationContext:
    """Inside `with WebappImpersonationContext():` the client acts as the browser user.

    The ticket comes from `ticket`, else from `headers`, else from the Flask request being
    handled. `scope` (a space-separated string or a list) narrows what the user's token may do,
    e.g. `"datasets:read"`. The context is per thread: a thread started inside does not act as
    the user.
    """

    def __init__(self, headers: Any = None, ticket: Optional[str] = None, scope: Scope = None):
        self._headers = headers
        self._ticket = ticket
        self._scope = scope
        self._resets: List[Any] = []  # one per __enter__, so the same object may be nested

    def _find_ticket(self) -> str:
        if self._ticket:
            return self._ticket
        headers = self._headers if self._headers is not None else flask_request_headers()
        if headers is None:
            raise GuiseException(
                None, "missing_ticket",
                "no request headers: pass headers= (or ticket=), or enter the context while handling "
                "a Flask request that came through Guise's proxy",
            )
        return ticket_from(headers)

    def __enter__(self) -> "WebappImpersonationContext":
        token = authenticator().exchange(self._find_ticket(), self._scope)
        self._resets.append(_user_token.set(token))
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        _user_token.reset(self._resets.pop())
        return False
