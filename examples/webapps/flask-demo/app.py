"""The backend of the Flask impersonation demo, a code webapp Guise starts and proxies.

The same build is started two ways: inside a WebappImpersonationContext, where it runs as the
browser user (with that user's permissions), and outside, where it runs as the backend's own
account (the webapp's "Run backend as" account).
"""

import os
import sys

from flask import Flask, jsonify, request

import guise

DATASET = "web_history_prepared"

app = Flask(__name__)


def log(message):
    # Guise collects the backend's stdout; flushed so each line shows up when it happens.
    print(message, file=sys.stdout, flush=True)


def failure_status(e):
    """The HTTP status to answer a GuiseException with: Guise's own when it answered."""
    if e.status:
        return e.status
    # No ticket: the request did not come through Guise's proxy, so no user is signed in.
    return 401 if e.error == "missing_ticket" else 502


def start_build(label):
    """Builds the dataset as whoever the client acts as here, without waiting for the job."""
    try:
        job = guise.api_client().get_default_project().get_dataset(DATASET).build(wait=False)
    except guise.GuiseException as e:
        # The description only: never the ticket or a token.
        log(f"build {DATASET} ({label}) refused: {e}")
        return jsonify(error=e.description or str(e), job_id=None), failure_status(e)
    run_as = job.run_as or {}
    log(f"build {DATASET} ({label}): job {job.id} runs as {run_as.get('name')} <{run_as.get('email')}>")
    return jsonify(job_id=job.id, run_as={"email": run_as.get("email"), "name": run_as.get("name")}), 202


@app.get("/healthz")
def healthz():
    return "ok"


@app.get("/whoami")
def whoami():
    """The browser user, as Guise vouches for them from the request's ticket (the ticket stays usable)."""
    try:
        info = guise.api_client().get_auth_info_from_browser_headers(request.headers)
    except guise.GuiseException as e:
        return jsonify(error=e.description or str(e)), e.status or 401
    return jsonify(email=info["email"], displayName=info["displayName"])


@app.post("/build")
def build():
    """The build as the browser user: Guise runs it with the user's permissions, or refuses it."""
    try:
        with guise.WebappImpersonationContext():
            return start_build("as the browser user")
    except guise.GuiseException as e:
        # Entering the context failed: no ticket, or Guise would not exchange it.
        log(f"build {DATASET} (as the browser user) refused: {e}")
        return jsonify(error=e.description or str(e), job_id=None), failure_status(e)


@app.post("/build-as-backend")
def build_as_backend():
    """The same build outside the context: it runs as the backend's own account."""
    return start_build("as the backend")


if __name__ == "__main__":
    # No reloader: Guise supervises this process, and a reloader would fork a second one.
    app.run(host=os.environ["GUISE_BACKEND_HOST"], port=int(os.environ["GUISE_BACKEND_PORT"]),
            use_reloader=False, debug=False)
