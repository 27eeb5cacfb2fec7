-- What the login and client-secret throttles know, in the database so that every server
-- sharing it applies the same counts and a restart forgets none: failures per throttle
-- ("scope") and key, and the addresses each account logged in from.
CREATE TABLE throttle_failures (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX throttle_failures_by_time ON throttle_failures(last_at);
CREATE TABLE login_addresses (
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (account, address)
);
