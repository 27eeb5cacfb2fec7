"""Guise's client for code webapps.

A backend started by Guise acts as its own account, or, inside a WebappImpersonationContext,
as the browser user of the request being handled. The calls mirror Dataiku's webapp API, so
code written for it runs with `import guise as dataiku`.
"""

from . import _env
from ._context import WebappImpersonationContext, current_user_token
from ._errors import GuiseException
from .client import GuiseClient

__version__ = "0.1.0"

# The name Dataiku code catches.
DataikuException = GuiseException


def api_client() -> GuiseClient:
    """A client for Guise's API.

    Made inside a WebappImpersonationContext, it acts as that browser user, even after the block
    ends. Made outside, each of its calls acts as the user when made inside a context, else as
    the backend's own account.
    """
    return GuiseClient(access_token=current_user_token())


def default_project_key() -> str:
    """The webapp's project key (GUISE_PROJECT_KEY)."""
    return _env.project_key()


__all__ = [
    "api_client",
    "default_project_key",
    "DataikuException",
    "GuiseClient",
    "GuiseException",
    "WebappImpersonationContext",
]
