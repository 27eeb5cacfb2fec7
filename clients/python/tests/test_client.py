"""GuiseClient: the browser user's identity, whoami, builds and their jobs, rows."""

import pytest

import guise
from guise import WebappImpersonationContext, api_client

from conftest import APP_ACCOUNT, MASK, PROJECT, TOKEN_EXCHANGE, WEBAPP_NAME


def as_user(server, email="u1@tshirts.example", scope=None):
    return WebappImpersonationContext(ticket=server.issue_ticket(email), scope=scope)


# -- who the browser user is --------------------------------------------------------------


def test_auth_info_comes_from_the_ticket_not_the_email_header(guise_server):
    headers = guise_server.headers_for("viewer@tshirts.example")
    headers["X-Guise-User-Email"] = "u1@tshirts.example"  # a lie the client must not believe
    info = api_client().get_auth_info_from_browser_headers(headers)
    assert info == {
        "email": "viewer@tshirts.example",
        "displayName": "Vic Viewer",
        "associatedDSSUser": "viewer@tshirts.example",
        "authIdentifier": "viewer@tshirts.example",
        "tenant": "tshirts",
    }
    # The ticket is still good for the impersonation context of the same request.
    with WebappImpersonationContext(headers=headers):
        assert api_client().get_own_user().get_settings().get_raw()["email"] == "viewer@tshirts.example"


def test_auth_info_refuses_a_used_or_forged_ticket(guise_server):
    headers = guise_server.headers_for()
    with WebappImpersonationContext(headers=headers):
        pass
    for bad in (headers, {"X-Guise-Ticket": "forged", "X-Guise-User-Email": "u1@tshirts.example"}):
        with pytest.raises(guise.GuiseException) as caught:
            api_client().get_auth_info_from_browser_headers(bad)
        assert (caught.value.status, caught.value.error) == (401, "invalid_token")


def test_auth_info_needs_a_ticket(guise_server):
    with pytest.raises(guise.GuiseException, match="did not come through Guise's proxy"):
        api_client().get_auth_info_from_browser_headers({"X-Guise-User-Email": "u1@tshirts.example"})
    assert guise_server.requests_to("/v2/auth/introspect") == []


def test_auth_info_refuses_a_ticket_for_another_webapp(guise_server, monkeypatch):
    monkeypatch.setenv("GUISE_WEBAPP_SLUG", "other")
    with pytest.raises(guise.GuiseException, match="issued to webapp 'shop'"):
        api_client().get_auth_info_from_browser_headers(guise_server.headers_for())


# -- who the token acts as ----------------------------------------------------------------


def test_own_user_settings_as_the_backend(guise_server):
    raw = api_client().get_own_user().get_settings().get_raw()
    assert (raw["login"], raw["email"], raw["displayName"]) == (APP_ACCOUNT["email"],) * 2 + (APP_ACCOUNT["name"],)
    assert raw["accountType"] == "service"
    assert (raw["webapp"], raw["scopes"], raw["delegationChain"]) == (WEBAPP_NAME, None, [])


def test_own_user_settings_as_the_browser_user(guise_server):
    with as_user(guise_server, "viewer@tshirts.example"):
        raw = api_client().get_own_user().get_settings().get_raw()
    assert (raw["login"], raw["email"], raw["displayName"]) == ("viewer@tshirts.example",) * 2 + ("Vic Viewer",)
    assert raw["accountType"] == "user"
    assert raw["delegationChain"] == [{"email": APP_ACCOUNT["email"], "clientId": "webapp-shop"}]
    assert (raw["webapp"], raw["scopes"]) == (WEBAPP_NAME, "datasets:read datasets:build")


def test_an_explicit_token_is_used_as_given(guise_server):
    with pytest.raises(guise.GuiseException) as caught:
        guise.GuiseClient(access_token="expired-or-forged").get_own_user().get_settings()
    assert (caught.value.status, caught.value.error) == (401, "invalid_token")
    assert str(caught.value) == "401 invalid_token: the token is unknown or expired (GET /v2/whoami)"


# -- projects, builds and jobs ------------------------------------------------------------


def test_default_project_and_its_key(guise_server, monkeypatch):
    assert guise.default_project_key() == PROJECT
    assert api_client().get_default_project().project_key == PROJECT
    assert api_client().get_project("OTHER").project_key == "OTHER"
    monkeypatch.delenv("GUISE_PROJECT_KEY")
    with pytest.raises(guise.GuiseException, match="GUISE_PROJECT_KEY"):
        api_client().get_default_project()


def test_build_waits_for_success_and_runs_as_the_user(guise_server):
    with as_user(guise_server):
        job = api_client().get_default_project().get_dataset("orders").build()
    (call,) = guise_server.requests_to("/v2/datasets/orders/build")
    assert call["query"] == {"project": PROJECT}
    assert job.run_as["email"] == "u1@tshirts.example"
    status = job.get_status()
    assert (status["id"], status["status"], status["rowsOut"]) == (job.id, "Succeeded", 7)
    assert status["via"] == 'webapp "shop"'
    assert [line["message"] for line in job.get_log()] == ["started", "succeeded"]


def test_build_without_waiting_then_wait(guise_server):
    with as_user(guise_server):
        job = api_client().get_default_project().get_dataset("orders").build(wait=False)
        assert job.get_status()["status"] == "Running"  # the stub moves one step per look
        assert job.wait(timeout=10)["status"] == "Succeeded"


def test_a_failed_build_raises_unless_no_fail(guise_server):
    dataset = api_client().get_default_project().get_dataset("broken")
    with pytest.raises(guise.GuiseException) as caught:
        dataset.build()
    assert caught.value.error == "job_failed"
    assert "the recipe failed" in str(caught.value)
    job = dataset.build(no_fail=True)
    assert job.get_status()["status"] == "Failed"


def test_waiting_gives_up_after_its_timeout(guise_server):
    job = api_client().get_default_project().get_dataset("slow").build(wait=False)
    with pytest.raises(guise.GuiseException) as caught:
        job.wait(timeout=0.5)
    assert caught.value.error == "timeout"
    assert "still Running" in str(caught.value)


def test_a_build_without_the_build_scope_is_refused(guise_server):
    with as_user(guise_server, scope="datasets:read"):
        with pytest.raises(guise.GuiseException) as caught:
            api_client().get_default_project().get_dataset("orders").build()
    e = caught.value
    assert (e.status, e.error, e.error_description) == (403, "insufficient_scope", "this token lacks the scope datasets:build")
    assert str(e).startswith("403 insufficient_scope: this token lacks the scope datasets:build")
    assert guise_server.jobs == {}


def test_a_user_who_may_not_build_is_refused_and_the_job_recorded(guise_server):
    with as_user(guise_server, "viewer@tshirts.example"):
        with pytest.raises(guise.GuiseException) as caught:
            api_client().get_default_project().get_dataset("orders").build(no_fail=True)
    assert (caught.value.status, caught.value.error) == (403, "access_denied")
    assert "viewer@tshirts.example may not build" in caught.value.description
    (job,) = guise_server.jobs.values()
    assert (job["status"], job["runAs"]["email"]) == ("Refused", "viewer@tshirts.example")


def test_an_unknown_dataset_is_404(guise_server):
    with pytest.raises(guise.GuiseException) as caught:
        api_client().get_default_project().get_dataset("nope").build()
    assert (caught.value.status, caught.value.error) == (404, "not_found")


def test_build_options_guise_does_not_have_are_refused(guise_server):
    dataset = api_client().get_default_project().get_dataset("orders")
    assert dataset.build(job_type="NON_RECURSIVE_FORCED_BUILD").get_status()["status"] == "Succeeded"
    with pytest.raises(ValueError, match="job_type"):
        dataset.build(job_type="RECURSIVE_BUILD")
    with pytest.raises(ValueError, match="partitions"):
        dataset.build(partitions="2024-01-01")


# -- rows ---------------------------------------------------------------------------------


def test_iter_rows_follows_next_page(guise_server):
    rows = list(api_client().get_default_project().get_dataset("orders").iter_rows(page_size=3))
    assert [row[0] for row in rows] == [1, 2, 3, 4, 5, 6, 7]
    pages = guise_server.requests_to("/v2/datasets/orders/rows")
    assert [call["query"].get("page") for call in pages] == [None, "1.3", "1.6"]
    assert all(call["query"]["pageSize"] == "3" and call["query"]["project"] == PROJECT for call in pages)


def test_iter_rows_as_the_user_comes_masked(guise_server):
    with as_user(guise_server, "viewer@tshirts.example"):
        rows = list(api_client().get_default_project().get_dataset("orders").iter_rows())
    assert len(rows) == 7
    assert {row[2] for row in rows} == {MASK}


def test_iter_rows_of_a_dataset_rebuilt_meanwhile_is_409(guise_server):
    rows = api_client().get_default_project().get_dataset("orders").iter_rows(page_size=3)
    assert next(rows)[0] == 1
    guise_server.rebuild("orders")
    with pytest.raises(guise.GuiseException) as caught:
        list(rows)
    assert (caught.value.status, caught.value.error) == (409, "conflict")


def test_a_user_token_is_exchanged_once_per_request_whatever_the_calls(guise_server):
    with as_user(guise_server):
        client = api_client()
        client.get_own_user().get_settings()
        list(client.get_default_project().get_dataset("orders").iter_rows())
    assert len(guise_server.requests_to("/v2/auth/token", TOKEN_EXCHANGE)) == 1
