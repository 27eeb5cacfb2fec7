-- The API client that started an impersonation, by id: revoking the client ends them by it,
-- not by matching the label shown to people.
ALTER TABLE impersonations ADD COLUMN via_client_id TEXT;
UPDATE impersonations SET via_client_id = substr(via, length('API client ') + 1) WHERE via LIKE 'API client %';
CREATE INDEX impersonations_via_client ON impersonations(tenant_id, via_client_id) WHERE via_client_id IS NOT NULL;
