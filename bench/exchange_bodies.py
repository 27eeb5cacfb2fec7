#!/usr/bin/env python3
"""Writes COUNT token-exchange form bodies, one per line, each with a fresh subject token (HS256
signed with the client's secret, kid = client id, unique jti, 5-minute expiry) so that every
request of the benchmark passes the replay check once.

Usage: exchange_bodies.py CLIENT_ID CLIENT_SECRET ACTOR_TOKEN SUBJECT_EMAIL COUNT OUT_FILE
"""
import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.parse
import uuid


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    client_id, secret, actor, email, count, out = sys.argv[1:7]
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": client_id}, separators=(",", ":")).encode())
    now = int(time.time())
    key = secret.encode()
    fixed = urllib.parse.urlencode({
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "actor_token": actor,
        "actor_token_type": "urn:ietf:params:oauth:token-type:access_token",
    })
    with open(out, "w") as f:
        for _ in range(int(count)):
            claims = {"sub": email, "iat": now, "exp": now + 290, "jti": uuid.uuid4().hex}
            payload = b64(json.dumps(claims, separators=(",", ":")).encode())
            signing_input = f"{header}.{payload}".encode()
            signature = b64(hmac.new(key, signing_input, hashlib.sha256).digest())
            f.write(f"{fixed}&subject_token={header}.{payload}.{signature}\n")


if __name__ == "__main__":
    main()
