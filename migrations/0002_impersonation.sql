-- Who may impersonate whom, besides admins: users or groups on either side.
CREATE TABLE impersonation_grants (
    id                 INTEGER PRIMARY KEY,
    tenant_id          INTEGER NOT NULL REFERENCES tenants(id),
    actor_user_id      INTEGER REFERENCES users(id) ON DELETE CASCADE,
    actor_group_id     INTEGER REFERENCES groups(id) ON DELETE CASCADE,
    subject_user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    subject_group_id   INTEGER REFERENCES groups(id) ON DELETE CASCADE,
    created_by_user_id INTEGER NOT NULL REFERENCES users(id),
    created_at         INTEGER NOT NULL,
    CHECK ((actor_user_id IS NULL) <> (actor_group_id IS NULL)),
    CHECK ((subject_user_id IS NULL) <> (subject_group_id IS NULL))
);
CREATE INDEX impersonation_grants_tenant ON impersonation_grants(tenant_id);

-- Every impersonation, from start to end. The session only holds the id of an ongoing one.
CREATE TABLE impersonations (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    actor_user_id   INTEGER NOT NULL REFERENCES users(id),
    subject_user_id INTEGER NOT NULL REFERENCES users(id),
    reason          TEXT NOT NULL,
    read_only       INTEGER NOT NULL CHECK (read_only IN (0, 1)),
    started_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    end_reason      TEXT
);
CREATE INDEX impersonations_subject ON impersonations(subject_user_id, id);
CREATE INDEX impersonations_actor ON impersonations(actor_user_id, id);

-- Server-wide settings (such as the impersonation off switch).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The audit log: append-only and hash-chained (each row hashes the previous one).
CREATE TABLE audit_log (
    id               INTEGER PRIMARY KEY,
    at               INTEGER NOT NULL,
    tenant_id        INTEGER NOT NULL,
    actor_user_id    INTEGER NOT NULL,
    subject_user_id  INTEGER,
    impersonation_id INTEGER,
    action           TEXT NOT NULL,
    target           TEXT NOT NULL,
    outcome          TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed')),
    reason           TEXT NOT NULL,
    via              TEXT NOT NULL,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log(tenant_id, id);
CREATE INDEX audit_log_impersonation ON audit_log(impersonation_id);

CREATE TRIGGER audit_log_never_updated BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit rows are never updated');
END;

CREATE TRIGGER audit_log_never_deleted BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit rows are never deleted');
END;
