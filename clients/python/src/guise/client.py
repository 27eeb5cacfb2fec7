"""The client: who the browser user is, who the token acts as, and the projects it reaches."""

from typing import Any, Dict, Optional

from . import _env, _http
from ._auth import authenticator
from ._context import current_user_token, ticket_from
from ._errors import GuiseException
from ._projects import GuiseProject


class GuiseClient:
    """Calls Guise's API.

    With `access_token`, every call uses that token. Without, each call uses the browser user's
    token when made inside a WebappImpersonationContext, else the backend's own token.
    """

    def __init__(self, access_token: Optional[str] = None):
        self._access_token = access_token

    def _token(self) -> str:
        return self._access_token or current_user_token() or authenticator().app_token()

    def _call(self, method: str, path: str, params: Optional[Dict[str, Any]] = None) -> Any:
        return _http.call(method, _env.base_url(), path, token=self._token(), params=params)

    def get_auth_info_from_browser_headers(self, headers: Any, with_secrets: bool = False) -> Dict[str, Any]:
        """Who the browser user of a request is, from its ticket, checked by Guise.

        The ticket is not used up: the same request may still enter a WebappImpersonationContext.
        The bare `X-Guise-User-Email` header is never trusted.
        """
        if with_secrets:
            raise ValueError("Guise keeps no secrets for its users: call without with_secrets")
        claims = authenticator().introspect(ticket_from(headers))
        if not claims.get("active"):
            raise GuiseException(
                401, "invalid_token",
                "Guise does not accept this request's ticket (expired, already used, or issued to another webapp)",
            )
        slug = _env.webapp_slug()
        if slug and claims.get("webapp") and claims["webapp"] != slug:
            raise GuiseException(401, "invalid_token", f"the ticket was issued to webapp {claims['webapp']!r}, not {slug!r}")
        email = claims.get("email") or claims.get("sub")
        return {
            "email": email,
            "displayName": claims.get("name") or email,
            "associatedDSSUser": email,
            "authIdentifier": email,
            "tenant": claims.get("tenant"),
        }

    def get_own_user(self) -> "GuiseOwnUser":
        """The account the token acts as."""
        return GuiseOwnUser(self)

    def get_project(self, project_key: str) -> GuiseProject:
        return GuiseProject(self, project_key)

    def get_default_project(self) -> GuiseProject:
        """The webapp's project (GUISE_PROJECT_KEY)."""
        return GuiseProject(self, _env.project_key())


class GuiseOwnUser:
    def __init__(self, client: GuiseClient):
        self._client = client

    def get_settings(self) -> "GuiseOwnUserSettings":
        whoami = self._client._call("GET", "/v2/whoami")
        raw = dict(whoami)
        raw.setdefault("login", whoami.get("email"))
        raw.setdefault("displayName", whoami.get("name") or whoami.get("email"))
        return GuiseOwnUserSettings(raw)


class GuiseOwnUserSettings:
    def __init__(self, raw: Dict[str, Any]):
        self._raw = raw

    def get_raw(self) -> Dict[str, Any]:
        """`/v2/whoami`'s answer, plus `login` (the email) and `displayName`."""
        return self._raw
