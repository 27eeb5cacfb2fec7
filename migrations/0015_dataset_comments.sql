-- Discussions on datasets. A comment shows its author (as the impersonation's mode decides)
-- and keeps both people behind it: who really wrote it and whom they acted as.
CREATE TABLE dataset_comments (
    id               INTEGER PRIMARY KEY,
    tenant_id        INTEGER NOT NULL REFERENCES tenants(id),
    dataset_id       INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    -- Shown as the author.
    author_user_id   INTEGER NOT NULL REFERENCES users(id),
    -- The person at the keyboard.
    actor_user_id    INTEGER NOT NULL REFERENCES users(id),
    -- The person acted as, when written while impersonating.
    subject_user_id  INTEGER REFERENCES users(id),
    impersonation_id INTEGER,
    mode             TEXT CHECK (mode IS NULL OR mode IN ('on_behalf_of', 'full', 'full_impersonator_permissions')),
    via              TEXT NOT NULL,
    body             TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX dataset_comments_dataset ON dataset_comments(dataset_id, id);
