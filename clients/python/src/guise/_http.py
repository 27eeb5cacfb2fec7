"""Every HTTP call to Guise: a timeout on each, a retry or two when the server says it is busy,
and any error answer turned into a GuiseException."""

import threading
import time
from typing import Any, Dict, Optional

import requests

from ._errors import GuiseException

TIMEOUT = (5.0, 30.0)  # seconds to connect, seconds to wait for the answer
BUSY_RETRIES = 2
MAX_RETRY_WAIT = 5.0  # a busy server may ask for longer; a web request should not wait that long
DEFAULT_RETRY_WAIT = 1.0

# One session per thread: connections are reused, and no session is shared between threads.
_local = threading.local()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def retry_delay(retry_after: Optional[str]) -> float:
    """The seconds to wait before a retry: `Retry-After` in seconds, capped."""
    try:
        seconds = float(retry_after) if retry_after is not None else DEFAULT_RETRY_WAIT
    except ValueError:  # an HTTP date, or nonsense
        seconds = DEFAULT_RETRY_WAIT
    return min(max(seconds, 0.0), MAX_RETRY_WAIT)


def error_from(response: requests.Response, call: str) -> GuiseException:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return GuiseException(response.status_code, str(body["error"]), str(body.get("error_description") or ""), call)
    text = response.text.strip()[:200] or response.reason or ""
    return GuiseException(response.status_code, "http_error", text, call)


def call(method: str, url: str, path: str, *, token: Optional[str] = None,
         data: Optional[Dict[str, str]] = None, params: Optional[Dict[str, Any]] = None) -> Any:
    """The JSON of a successful answer to `method url+path`, or a GuiseException."""
    name = f"{method} {path}"
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    retries = 0
    while True:
        try:
            response = _session().request(method, url + path, headers=headers, data=data, params=params, timeout=TIMEOUT)
        except requests.Timeout as e:
            raise GuiseException(None, "timeout", f"Guise did not answer within {TIMEOUT[1]:g} s", name) from e
        except requests.RequestException as e:
            raise GuiseException(None, "network_error", f"could not reach Guise at {url}: {e}", name) from e
        if response.status_code != 503 or retries >= BUSY_RETRIES:
            break
        retries += 1
        time.sleep(retry_delay(response.headers.get("Retry-After")))
    if not 200 <= response.status_code < 300:
        raise error_from(response, name)
    try:
        return response.json()
    except ValueError as e:
        raise GuiseException(response.status_code, "invalid_response", "the answer is not JSON", name) from e
