-- A counter that moves whenever a job changes, whoever writes (the server, the command line).
-- The server keeps the job lists pages show while it and `access_version` stay put
-- (`store::job_lists`).
CREATE TABLE jobs_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
) STRICT;

INSERT INTO jobs_version (id, value) VALUES (1, 1);

CREATE TRIGGER jobs_insert_moves_jobs_version AFTER INSERT ON jobs
BEGIN UPDATE jobs_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER jobs_update_moves_jobs_version AFTER UPDATE ON jobs
BEGIN UPDATE jobs_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER jobs_delete_moves_jobs_version AFTER DELETE ON jobs
BEGIN UPDATE jobs_version SET value = value + 1 WHERE id = 1; END;
