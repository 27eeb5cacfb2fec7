-- Used subject-token ids, rebuilt as a rowid table. Keyed by (client_id, jti) alone, the table
-- and its expiry index (whose entries end with that key) put each new id on a random page: two
-- pages written per exchange. Now rows, and expiry entries of the same second, append in the
-- order they come; only the uniqueness index takes a random page.
CREATE TABLE used_subject_tokens_in_order (
    id         INTEGER PRIMARY KEY,
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    -- Past this time (seconds) the token is refused as expired anyway, so the row may go;
    -- NULL for a token without `exp`, whose id is kept for good.
    expires_at INTEGER,
    UNIQUE (client_id, jti)
);
INSERT INTO used_subject_tokens_in_order (client_id, jti, expires_at)
    SELECT client_id, jti, expires_at FROM used_subject_tokens ORDER BY expires_at;
DROP TABLE used_subject_tokens;
ALTER TABLE used_subject_tokens_in_order RENAME TO used_subject_tokens;
CREATE INDEX used_subject_tokens_expiry ON used_subject_tokens(expires_at);
