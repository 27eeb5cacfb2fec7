-- Browser sessions, written through the one writer like every other table. Sessions of the
-- earlier store are dropped: their users sign in again once.
DROP TABLE IF EXISTS tower_sessions;

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_expires_at ON sessions (expires_at);
