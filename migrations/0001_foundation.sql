-- Tenants, people and groups.
CREATE TABLE tenants (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT NOT NULL,
    -- NULL for accounts that can never log in interactively (service accounts).
    password_hash TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    account_type  TEXT NOT NULL DEFAULT 'user' CHECK (account_type IN ('user', 'service')),
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    price_group   TEXT,
    region        TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id);

CREATE TABLE groups (
    id        INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    name      TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

-- Projects and who may do what in them.
CREATE TABLE projects (
    id        INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    key       TEXT NOT NULL,
    name      TEXT NOT NULL,
    UNIQUE (tenant_id, key)
);

CREATE TABLE project_permissions (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    group_id   INTEGER REFERENCES groups(id) ON DELETE CASCADE,
    can_read   INTEGER NOT NULL DEFAULT 1 CHECK (can_read IN (0, 1)),
    can_build  INTEGER NOT NULL DEFAULT 0 CHECK (can_build IN (0, 1)),
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE INDEX project_permissions_project ON project_permissions(project_id);

-- Datasets. Rows live in dataset_rows under a generation; only the dataset's current
-- generation is visible, so a build writes a new generation and then swaps it in.
CREATE TABLE datasets (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('raw', 'derived')),
    recipe      TEXT,
    description TEXT NOT NULL DEFAULT '',
    columns     TEXT NOT NULL DEFAULT '[]',
    generation  INTEGER NOT NULL DEFAULT 0,
    row_count   INTEGER NOT NULL DEFAULT 0,
    built_at    INTEGER,
    UNIQUE (project_id, name)
);

CREATE TABLE dataset_rows (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    generation INTEGER NOT NULL,
    row_no     INTEGER NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (dataset_id, generation, row_no)
) WITHOUT ROWID;

-- Webapps and the identity their backend runs as.
CREATE TABLE webapps (
    id             INTEGER PRIMARY KEY,
    project_id     INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    slug           TEXT NOT NULL,
    name           TEXT NOT NULL,
    run_as_user_id INTEGER NOT NULL REFERENCES users(id),
    UNIQUE (project_id, slug)
);

-- Jobs: every row names who it ran as, who triggered it, who impersonated (if anyone) and how.
CREATE TABLE jobs (
    id                      INTEGER PRIMARY KEY,
    tenant_id               INTEGER NOT NULL REFERENCES tenants(id),
    dataset_id              INTEGER NOT NULL REFERENCES datasets(id),
    status                  TEXT NOT NULL
                            CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'refused')),
    run_as_user_id          INTEGER NOT NULL REFERENCES users(id),
    triggered_by_user_id    INTEGER NOT NULL REFERENCES users(id),
    impersonated_by_user_id INTEGER REFERENCES users(id),
    via_kind                TEXT NOT NULL CHECK (via_kind IN ('webapp', 'ui', 'api')),
    via_label               TEXT NOT NULL DEFAULT '',
    webapp_id               INTEGER REFERENCES webapps(id),
    created_at              INTEGER NOT NULL,
    started_at              INTEGER,
    finished_at             INTEGER,
    progress                REAL NOT NULL DEFAULT 0,
    rows_in                 INTEGER,
    rows_out                INTEGER,
    error                   TEXT,
    attempts                INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_status ON jobs(status, id);
CREATE INDEX jobs_tenant ON jobs(tenant_id, id);

CREATE TABLE job_log_lines (
    id      INTEGER PRIMARY KEY,
    job_id  INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    level   TEXT NOT NULL CHECK (level IN ('info', 'warn', 'error')),
    message TEXT NOT NULL
);
CREATE INDEX job_log_lines_job ON job_log_lines(job_id, id);
