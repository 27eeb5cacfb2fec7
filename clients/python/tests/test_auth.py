"""The backend's own token, ticket exchange and introspection, errors, retries and timeouts."""

import time
from types import SimpleNamespace

import pytest

import guise
from guise import _auth, _env, _http
from guise._auth import Authenticator, authenticator

from conftest import ACCESS_TOKEN_TYPE, CLIENT_ID, CLIENT_SECRET, TICKET_TYPE, TOKEN_EXCHANGE

CREDENTIALS = "client_credentials"


def test_app_token_is_fetched_once_and_reused(guise_server):
    first = authenticator().app_token()
    for _ in range(3):
        assert authenticator().app_token() == first
    calls = guise_server.requests_to("/v2/auth/token", CREDENTIALS)
    assert len(calls) == 1
    assert calls[0]["form"] == {"grant_type": CREDENTIALS, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


def test_app_token_is_renewed_30_seconds_before_it_expires(guise_server, monkeypatch):
    guise_server.app_token_lifetime = 100
    now = [1000.0]
    monkeypatch.setattr(_auth, "time", SimpleNamespace(monotonic=lambda: now[0]))
    first = authenticator().app_token()
    now[0] += 69  # 31 s left: still good
    assert authenticator().app_token() == first
    now[0] += 2  # 29 s left: renewed
    second = authenticator().app_token()
    assert second != first
    assert len(guise_server.requests_to("/v2/auth/token", CREDENTIALS)) == 2


def test_wrong_secret_is_a_readable_guise_exception(guise_server, monkeypatch):
    monkeypatch.setenv("GUISE_CLIENT_SECRET", "wrong")
    with pytest.raises(guise.GuiseException) as caught:
        authenticator().app_token()
    e = caught.value
    assert (e.status, e.error, e.description) == (401, "invalid_client", "unknown client or wrong secret")
    assert str(e) == "401 invalid_client: unknown client or wrong secret (POST /v2/auth/token)"
    assert guise.DataikuException is guise.GuiseException


@pytest.mark.parametrize("missing", ["GUISE_URL", "GUISE_CLIENT_ID", "GUISE_CLIENT_SECRET"])
def test_a_missing_setting_is_named(guise_server, monkeypatch, missing):
    monkeypatch.delenv(missing)
    with pytest.raises(guise.GuiseException, match=missing):
        authenticator().app_token()


def test_settings_changes_give_a_new_authenticator(guise_server, monkeypatch):
    first = authenticator()
    assert authenticator() is first
    monkeypatch.setenv("GUISE_CLIENT_ID", "another")
    assert authenticator() is not first


def test_exchange_sends_the_rfc_8693_form_and_returns_the_users_token(guise_server):
    ticket = guise_server.issue_ticket("u1@tshirts.example")
    app_token = authenticator().app_token()
    user_token = authenticator().exchange(ticket, scope=["datasets:read", "datasets:build"])
    (call,) = guise_server.requests_to("/v2/auth/token", TOKEN_EXCHANGE)
    assert call["authorization"] == f"Bearer {app_token}"
    assert call["form"] == {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": ticket,
        "subject_token_type": TICKET_TYPE,
        "actor_token": app_token,
        "actor_token_type": ACCESS_TOKEN_TYPE,
        "scope": "datasets:read datasets:build",
    }
    assert guise_server.tokens[user_token]["account"]["email"] == "u1@tshirts.example"
    assert user_token != app_token


def test_exchange_without_scope_sends_none(guise_server):
    authenticator().exchange(guise_server.issue_ticket())
    (call,) = guise_server.requests_to("/v2/auth/token", TOKEN_EXCHANGE)
    assert "scope" not in call["form"]


def test_a_ticket_is_exchanged_once_then_served_from_the_cache(guise_server):
    ticket = guise_server.issue_ticket()
    first = authenticator().exchange(ticket)
    assert authenticator().exchange(ticket) == first
    assert len(guise_server.requests_to("/v2/auth/token", TOKEN_EXCHANGE)) == 1


def test_the_server_refuses_a_ticket_used_twice(guise_server):
    ticket = guise_server.issue_ticket()
    Authenticator(_env.settings()).exchange(ticket)
    with pytest.raises(guise.GuiseException) as caught:
        Authenticator(_env.settings()).exchange(ticket)  # no cache to hide the second use
    assert (caught.value.status, caught.value.error) == (400, "invalid_request")
    assert "already used" in caught.value.description


def test_a_second_scope_for_the_same_ticket_is_refused_here(guise_server):
    ticket = guise_server.issue_ticket()
    authenticator().exchange(ticket, scope="datasets:read")
    with pytest.raises(guise.GuiseException, match="already exchanged"):
        authenticator().exchange(ticket, scope="datasets:build")


def test_an_undeclared_scope_is_refused(guise_server):
    with pytest.raises(guise.GuiseException) as caught:
        authenticator().exchange(guise_server.issue_ticket(), scope="admin")
    assert (caught.value.status, caught.value.error) == (400, "invalid_scope")


def test_the_exchange_cache_is_bounded(guise_server):
    auth = Authenticator(_env.settings(), cache_size=3)
    tickets = [guise_server.issue_ticket() for _ in range(5)]
    for ticket in tickets:
        auth.exchange(ticket)
    assert len(auth._exchanged) == 3
    assert list(auth._exchanged) == tickets[2:]  # the oldest went first


def test_introspection_names_the_user_and_does_not_use_up_the_ticket(guise_server):
    ticket = guise_server.issue_ticket("viewer@tshirts.example")
    claims = authenticator().introspect(ticket)
    assert claims["active"] is True
    assert (claims["email"], claims["webapp"]) == ("viewer@tshirts.example", "shop")
    authenticator().exchange(ticket)  # still good
    assert authenticator().introspect(ticket) == {"active": False}  # now used
    assert authenticator().introspect("forged") == {"active": False}


def test_503_is_retried_after_retry_after(guise_server, monkeypatch):
    waits = []
    monkeypatch.setattr(_http, "time", SimpleNamespace(sleep=waits.append))
    guise_server.injected = [(503, {"Retry-After": "2"}), (503, {"Retry-After": "3600"})]
    assert authenticator().app_token()
    assert waits == [2.0, _http.MAX_RETRY_WAIT]  # the second wait capped
    assert len(guise_server.requests_to("/v2/auth/token")) == 3


def test_503_after_the_retries_is_raised(guise_server, monkeypatch):
    monkeypatch.setattr(_http, "time", SimpleNamespace(sleep=lambda seconds: None))
    guise_server.injected = [(503, {})] * 3
    with pytest.raises(guise.GuiseException) as caught:
        authenticator().app_token()
    assert (caught.value.status, caught.value.error) == (503, "temporarily_unavailable")
    assert len(guise_server.requests_to("/v2/auth/token")) == 3


def test_other_errors_are_not_retried(guise_server, monkeypatch):
    guise_server.injected = [(500, {})]
    with pytest.raises(guise.GuiseException) as caught:
        authenticator().app_token()
    assert caught.value.status == 500
    assert len(guise_server.requests_to("/v2/auth/token")) == 1


def test_retry_after_values():
    assert _http.retry_delay("0") == 0.0
    assert _http.retry_delay("1.5") == 1.5
    assert _http.retry_delay("-4") == 0.0
    assert _http.retry_delay("Wed, 21 Oct 2015 07:28:00 GMT") == _http.DEFAULT_RETRY_WAIT
    assert _http.retry_delay(None) == _http.DEFAULT_RETRY_WAIT


def test_a_silent_server_times_out(guise_server, monkeypatch):
    monkeypatch.setattr(_http, "TIMEOUT", (1.0, 0.3))
    guise_server.hang_seconds = 2.0
    started = time.monotonic()
    with pytest.raises(guise.GuiseException) as caught:
        authenticator().app_token()
    assert caught.value.error == "timeout"
    assert time.monotonic() - started < 1.5


def test_an_unreachable_server_is_a_guise_exception(guise_server, monkeypatch):
    guise_server.stop()
    with pytest.raises(guise.GuiseException) as caught:
        authenticator().app_token()
    assert (caught.value.status, caught.value.error) == (None, "network_error")
