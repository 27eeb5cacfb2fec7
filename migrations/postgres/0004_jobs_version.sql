-- Moves whenever a job changes, so every server's job lists (`store::job_lists`) know to
-- read again. The counter moves as the transaction commits (a deferred trigger), not at the
-- change: its row is then locked only while committing, after every other lock the
-- transaction takes, so two servers' writers neither wait on it long nor deadlock over it.
CREATE TABLE jobs_version (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO jobs_version (id, value) VALUES (1, 1);

CREATE FUNCTION move_jobs_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE jobs_version SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER jobs_moves_jobs_version AFTER INSERT OR UPDATE OR DELETE ON jobs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION move_jobs_version();
