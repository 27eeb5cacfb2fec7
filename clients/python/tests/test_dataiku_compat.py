"""A backend written for Dataiku's webapp API runs on Guise with one changed import."""

import flask
from flask import jsonify, request

import guise as dataiku

from conftest import APP_ACCOUNT


def dataiku_style_backend():
    """The backend, as it would be written for Dataiku (only the import differs)."""
    app = flask.Flask(__name__)

    @app.route("/whoami")
    def whoami():
        client = dataiku.api_client()
        auth_info = client.get_auth_info_from_browser_headers(dict(request.headers))
        with dataiku.WebappImpersonationContext():
            user = dataiku.api_client().get_own_user().get_settings().get_raw()
        backend = client.get_own_user().get_settings().get_raw()
        return jsonify(browser=auth_info["authIdentifier"], acting_as=user["login"], backend=backend["login"])

    @app.route("/build/<name>", methods=["POST"])
    def build(name):
        try:
            with dataiku.WebappImpersonationContext():
                client = dataiku.api_client()
                project = client.get_project(dataiku.default_project_key())
                job = project.get_dataset(name).build()
                return jsonify(job=job.id, status=job.get_status()["status"], run_as=job.run_as["email"])
        except dataiku.DataikuException as e:
            return jsonify(error=str(e)), 403

    @app.route("/rows/<name>")
    def rows(name):
        with dataiku.WebappImpersonationContext():
            dataset = dataiku.api_client().get_default_project().get_dataset(name)
            return jsonify(rows=list(dataset.iter_rows()))

    return app


def test_the_dataiku_snippet_acts_as_the_browser_user(guise_server):
    browser = dataiku_style_backend().test_client()

    answer = browser.get("/whoami", headers=guise_server.headers_for("viewer@tshirts.example"))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json() == {
        "browser": "viewer@tshirts.example",
        "acting_as": "viewer@tshirts.example",
        "backend": APP_ACCOUNT["email"],
    }

    built = browser.post("/build/orders", headers=guise_server.headers_for("u1@tshirts.example"))
    assert built.status_code == 200, built.get_data(as_text=True)
    assert built.get_json()["status"] == "Succeeded"
    assert built.get_json()["run_as"] == "u1@tshirts.example"

    refused = browser.post("/build/orders", headers=guise_server.headers_for("viewer@tshirts.example"))
    assert refused.status_code == 403
    assert refused.get_json()["error"].startswith("403 access_denied: viewer@tshirts.example may not build")

    rows = browser.get("/rows/orders", headers=guise_server.headers_for("viewer@tshirts.example"))
    assert len(rows.get_json()["rows"]) == 7


def test_the_names_dataiku_code_uses_exist():
    for name in ("api_client", "default_project_key", "WebappImpersonationContext", "DataikuException"):
        assert hasattr(dataiku, name), name
