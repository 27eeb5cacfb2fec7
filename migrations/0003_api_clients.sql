-- API clients: credentials an admin creates so programs can call the /v2 API. The secret is
-- stored sealed with the server key (kept outside the database), never in plain text.
CREATE TABLE api_clients (
    id                 INTEGER PRIMARY KEY,
    tenant_id          INTEGER NOT NULL REFERENCES tenants(id),
    client_id          TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    owner_user_id      INTEGER NOT NULL REFERENCES users(id),
    -- How strictly self-signed subject tokens are checked.
    subject_policy     TEXT NOT NULL CHECK (subject_policy IN ('strict', 'compatible')),
    secret_sealed      TEXT NOT NULL,
    -- Bumped by every rotation; access tokens name the version they were issued under.
    secret_version     INTEGER NOT NULL DEFAULT 1,
    created_by_user_id INTEGER NOT NULL REFERENCES users(id),
    created_at         INTEGER NOT NULL,
    rotated_at         INTEGER,
    revoked_at         INTEGER,
    last_used_at       INTEGER
);
CREATE INDEX api_clients_tenant ON api_clients(tenant_id);

-- The server's token signing keys (Ed25519). The private half is sealed with the server key.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    algorithm      TEXT NOT NULL,
    private_sealed TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER
);

-- Subject-token ids already exchanged, per client: a jti is accepted once.
CREATE TABLE used_subject_tokens (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    -- Past this time (seconds) the token is refused as expired anyway, so the row may go;
    -- NULL for a token without `exp`, whose id is kept for good.
    expires_at INTEGER,
    PRIMARY KEY (client_id, jti)
) WITHOUT ROWID;
CREATE INDEX used_subject_tokens_expiry ON used_subject_tokens(expires_at);

-- How an impersonation came about: the UI, or an API client's token exchange.
ALTER TABLE impersonations ADD COLUMN via TEXT NOT NULL DEFAULT 'UI';
