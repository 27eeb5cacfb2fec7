#!/usr/bin/env python3
"""Impersonating a user through the Guise API, end to end.

1. client credentials  -> an access token acting as the client's owner;
2. a subject token     -> a JWT the client signs itself (HS256, its secret, kid = client id)
                          naming the user to impersonate;
3. token exchange      -> an impersonation token (RFC 8693) acting as that user;
4. whoami and the dataset list with both tokens, then a build as the user.

Runs against the demo (`make run`) with no arguments:

    pip install -r examples/requirements.txt
    python3 examples/impersonate.py --user u1@tshirts.example
"""

import argparse
import sys
import time
import uuid

import jwt
import requests

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def fail(message):
    print(f"FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def check(response, expected=200):
    """The JSON of a response, or the API's error (RFC 6749 shape) and exit."""
    if response.status_code != expected:
        try:
            error = response.json()
            detail = f"{error.get('error')}: {error.get('error_description')}"
        except ValueError:
            detail = response.text[:300]
        fail(f"{response.request.method} {response.url} -> {response.status_code} {detail}")
    return response.json()


def client_token(base, client_id, secret):
    response = requests.post(
        f"{base}/v2/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=30,
    )
    return check(response)["access_token"]


def subject_token(client_id, secret, user, tenant=None):
    """The self-signed subject token. exp, iat and a unique jti satisfy the strict policy too."""
    now = int(time.time())
    claims = {"sub": user, "iat": now, "exp": now + 120, "jti": str(uuid.uuid4())}
    if tenant:
        claims["tenant"] = tenant
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": client_id})


def exchange(base, actor_token, subject):
    response = requests.post(
        f"{base}/v2/auth/token",
        data={
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject,
            "subject_token_type": JWT_TYPE,
            "actor_token": actor_token,
            "actor_token_type": ACCESS_TOKEN_TYPE,
        },
        headers={"Authorization": f"Bearer {actor_token}"},
        timeout=30,
    )
    body = check(response)
    if body.get("issued_token_type") != ACCESS_TOKEN_TYPE:
        fail(f"unexpected issued_token_type {body.get('issued_token_type')!r}")
    return body["access_token"]


def api(base, token, method, path, expected=200):
    response = requests.request(method, f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return check(response, expected)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:3000")
    parser.add_argument("--client-id", default="tshirts-api-demo")
    parser.add_argument("--client-secret", default="guise-demo-client-secret")
    parser.add_argument("--user", default="u1@tshirts.example", help="the user to impersonate")
    parser.add_argument("--tenant", help="the tenant claim (optional; must be the client's tenant)")
    parser.add_argument("--dataset", default="web_history_prepared", help="the dataset to build as the user")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")

    actor = client_token(base, args.client_id, args.client_secret)
    owner = api(base, actor, "GET", "/v2/whoami")
    print(f"client token acts as {owner['name']} <{owner['email']}>")

    token = exchange(base, actor, subject_token(args.client_id, args.client_secret, args.user, args.tenant))
    claims = jwt.decode(token, options={"verify_signature": False})
    print(f"impersonation token: sub={claims['sub']} act={claims['act']}")

    me = api(base, token, "GET", "/v2/whoami")
    actor_email = (me.get("impersonatedBy") or {}).get("email")
    print(f"whoami with it: {me['name']} <{me['email']}>, impersonated by {actor_email}")
    if me["email"] != args.user or actor_email != owner["email"]:
        fail("whoami does not name the impersonated user and the client's owner")

    for label, t in (("client token", actor), ("impersonation token", token)):
        files = api(base, t, "GET", "/v2/files?typeFilters=dataset")
        paths = [entry["path"] for entry in files["entries"]]
        print(f"datasets with the {label}: {', '.join(paths) or '(none)'}")

    started = api(base, token, "POST", f"/v2/datasets/{args.dataset}/build", expected=202)
    print(f"build job #{started['jobId']} queued, run as {started['runAs']['email']}")
    job = started
    for _ in range(300):
        job = api(base, token, "GET", f"/v2/jobs/{started['jobId']}")
        if job["status"] in ("Succeeded", "Failed", "Refused"):
            break
        time.sleep(0.2)
    print(
        f"job #{job['id']}: {job['status']} · run as {job['runAs']['email']} · "
        f"impersonated by {(job.get('impersonatedBy') or {}).get('email')} · via {job['via']}"
    )
    if job["status"] != "Succeeded":
        fail(f"the build ended {job['status']}: {job.get('error')}")
    if job["runAs"]["email"] != args.user or (job.get("impersonatedBy") or {}).get("email") != owner["email"]:
        fail("the job log does not name both people")
    print("OK")


if __name__ == "__main__":
    main()
