-- How an impersonation acts for its subject: each grant allows one mode (existing grants become
-- "On behalf of", the least powerful), and each impersonation records the mode it runs in
-- (those started before modes acted fully as their subject).
ALTER TABLE impersonation_grants ADD COLUMN mode TEXT NOT NULL DEFAULT 'on_behalf_of'
    CHECK (mode IN ('on_behalf_of', 'full', 'full_impersonator_permissions'));
ALTER TABLE impersonations ADD COLUMN mode TEXT NOT NULL DEFAULT 'full'
    CHECK (mode IN ('on_behalf_of', 'full', 'full_impersonator_permissions'));
