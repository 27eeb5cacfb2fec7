-- A running job is leased to the server running it, which renews the lease while it works.
-- A lease that runs out means that server stopped: another re-queues the job. Only the
-- lease holder may record the job's progress, output and end.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at BIGINT;
CREATE INDEX jobs_running_leases ON jobs(lease_expires_at) WHERE status = 'running';
