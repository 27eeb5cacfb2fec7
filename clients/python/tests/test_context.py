"""WebappImpersonationContext: where the ticket comes from, nesting, and what does not inherit it."""

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import flask
import pytest

import guise
from guise import WebappImpersonationContext, api_client

from conftest import APP_ACCOUNT, TOKEN_EXCHANGE


def acting_as():
    return api_client().get_own_user().get_settings().get_raw()["email"]


def test_flask_request_headers_are_found_without_arguments(guise_server):
    app = flask.Flask(__name__)

    @app.route("/me")
    def me():
        with WebappImpersonationContext():
            return {"email": acting_as()}

    response = app.test_client().get("/me", headers=guise_server.headers_for("viewer@tshirts.example"))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"email": "viewer@tshirts.example"}


def test_a_flask_request_without_a_ticket_did_not_come_through_the_proxy(guise_server):
    app = flask.Flask(__name__)
    with app.test_request_context("/", headers={"X-Guise-User-Email": "u1@tshirts.example"}):
        with pytest.raises(guise.GuiseException, match="did not come through Guise's proxy"):
            WebappImpersonationContext().__enter__()
    assert guise_server.requests_to("/v2/auth/token", TOKEN_EXCHANGE) == []


def test_no_headers_outside_a_flask_request_is_a_clear_error(guise_server):
    with pytest.raises(guise.GuiseException, match="no request headers"):
        with WebappImpersonationContext():
            pass


def test_explicit_headers_in_any_case(guise_server):
    ticket = guise_server.issue_ticket("viewer@tshirts.example")
    with WebappImpersonationContext(headers={"x-guise-ticket": ticket}):
        assert acting_as() == "viewer@tshirts.example"
    with WebappImpersonationContext(headers=[("X-GUISE-TICKET", guise_server.issue_ticket())]):
        assert acting_as() == "u1@tshirts.example"


def test_explicit_ticket(guise_server):
    with WebappImpersonationContext(ticket=guise_server.issue_ticket("viewer@tshirts.example")) as context:
        assert isinstance(context, WebappImpersonationContext)
        assert acting_as() == "viewer@tshirts.example"


def test_outside_any_context_the_backend_acts_as_itself(guise_server):
    assert acting_as() == APP_ACCOUNT["email"]


def test_nesting_restores_each_level(guise_server):
    with WebappImpersonationContext(ticket=guise_server.issue_ticket("u1@tshirts.example")):
        assert acting_as() == "u1@tshirts.example"
        with WebappImpersonationContext(ticket=guise_server.issue_ticket("viewer@tshirts.example")):
            assert acting_as() == "viewer@tshirts.example"
        assert acting_as() == "u1@tshirts.example"
    assert acting_as() == APP_ACCOUNT["email"]


def test_the_same_context_entered_twice_exchanges_its_ticket_once(guise_server):
    context = WebappImpersonationContext(ticket=guise_server.issue_ticket("viewer@tshirts.example"))
    with context:
        with context:
            assert acting_as() == "viewer@tshirts.example"
        assert acting_as() == "viewer@tshirts.example"
    with context:
        assert acting_as() == "viewer@tshirts.example"
    assert acting_as() == APP_ACCOUNT["email"]
    assert len(guise_server.requests_to("/v2/auth/token", TOKEN_EXCHANGE)) == 1


def test_an_exception_inside_still_ends_the_context(guise_server):
    with pytest.raises(RuntimeError):
        with WebappImpersonationContext(ticket=guise_server.issue_ticket()):
            raise RuntimeError("handler failed")
    assert acting_as() == APP_ACCOUNT["email"]


def test_a_refused_ticket_leaves_no_context(guise_server):
    with pytest.raises(guise.GuiseException) as caught:
        with WebappImpersonationContext(ticket="forged"):
            pass
    assert caught.value.status == 400
    assert acting_as() == APP_ACCOUNT["email"]


def test_threads_do_not_inherit_the_context(guise_server):
    seen = {}
    with WebappImpersonationContext(ticket=guise_server.issue_ticket("viewer@tshirts.example")):
        thread = threading.Thread(target=lambda: seen.update(thread=acting_as()))
        thread.start()
        thread.join()
        with ThreadPoolExecutor(1) as pool:
            seen["pool"] = pool.submit(acting_as).result()
        seen["here"] = acting_as()
    assert seen == {"thread": APP_ACCOUNT["email"], "pool": APP_ACCOUNT["email"], "here": "viewer@tshirts.example"}


def test_a_client_made_inside_keeps_acting_as_the_user(guise_server):
    with WebappImpersonationContext(ticket=guise_server.issue_ticket("viewer@tshirts.example")):
        client = api_client()
    seen = []
    thread = threading.Thread(target=lambda: seen.append(client.get_own_user().get_settings().get_raw()["email"]))
    thread.start()
    thread.join()
    assert seen == ["viewer@tshirts.example"]
    assert client.get_own_user().get_settings().get_raw()["email"] == "viewer@tshirts.example"


def test_a_client_made_outside_acts_as_whoever_each_call_is_made_for(guise_server):
    client = api_client()
    with WebappImpersonationContext(ticket=guise_server.issue_ticket("viewer@tshirts.example")):
        assert client.get_own_user().get_settings().get_raw()["email"] == "viewer@tshirts.example"
    assert client.get_own_user().get_settings().get_raw()["email"] == APP_ACCOUNT["email"]


def test_scope_narrows_the_users_token(guise_server):
    with WebappImpersonationContext(ticket=guise_server.issue_ticket(), scope="datasets:read"):
        assert api_client().get_own_user().get_settings().get_raw()["scopes"] == "datasets:read"


def test_flask_is_neither_needed_nor_imported(guise_server, monkeypatch):
    monkeypatch.setitem(sys.modules, "flask", None)  # as if Flask were not installed
    with pytest.raises(guise.GuiseException, match="no request headers"):
        with WebappImpersonationContext():
            pass
    probe = "import sys, guise; guise.WebappImpersonationContext; assert 'flask' not in sys.modules"
    subprocess.run([sys.executable, "-c", probe], check=True)
