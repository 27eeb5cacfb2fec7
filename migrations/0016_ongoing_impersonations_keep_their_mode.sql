-- Ongoing impersonations keep going: a non-admin's may go on only in a mode their grants now
-- allow, so theirs become "On behalf of" like the grants; admins' stay full.
UPDATE impersonations SET mode = 'on_behalf_of'
WHERE ended_at IS NULL AND actor_user_id IN (SELECT id FROM users WHERE is_admin = 0);
