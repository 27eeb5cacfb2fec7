-- How an impersonation acts for its subject: each grant allows one mode (existing grants become
-- "On behalf of", the least powerful), and each impersonation records the mode it runs in
-- (those started before modes acted fully as their subject).
ALTER TABLE impersonation_grants ADD COLUMN mode TEXT NOT NULL DEFAULT 'on_behalf_of'
    CHECK (mode IN ('on_behalf_of', 'full', 'full_impersonator_permissions'));
ALTER TABLE impersonations ADD COLUMN mode TEXT NOT NULL DEFAULT 'full'
    CHECK (mode IN ('on_behalf_of', 'full', 'full_impersonator_permissions'));

-- Ongoing impersonations keep going: a non-admin's may go on only in a mode their grants now
-- allow, so theirs become "On behalf of" like the grants; admins' stay full.
UPDATE impersonations SET mode = 'on_behalf_of'
WHERE ended_at IS NULL AND actor_user_id IN (SELECT id FROM users WHERE is_admin = 0);
