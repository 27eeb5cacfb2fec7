-- Code webapps (M23): a webapp whose backend is a program Guise runs, reached through Guise's
-- proxy. Its folders and command are set only by the operator's command line. `command` is a
-- JSON array (program and arguments, run without a shell); `scopes` the words the backend may
-- use on behalf of its users.
ALTER TABLE webapps ADD COLUMN kind TEXT NOT NULL DEFAULT 'built_in' CHECK (kind IN ('built_in', 'code'));
ALTER TABLE webapps ADD COLUMN frontend_dir TEXT;
ALTER TABLE webapps ADD COLUMN workdir TEXT;
ALTER TABLE webapps ADD COLUMN command TEXT;
ALTER TABLE webapps ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
ALTER TABLE webapps ADD COLUMN disabled_at INTEGER;
ALTER TABLE webapps ADD COLUMN updated_at INTEGER;

-- A code webapp's backend authenticates as an API client Guise manages for it: at most one
-- live client per webapp. Such clients are not listed with the clients admins create.
ALTER TABLE api_clients ADD COLUMN webapp_id INTEGER REFERENCES webapps(id);
CREATE UNIQUE INDEX api_clients_one_per_webapp ON api_clients(webapp_id) WHERE webapp_id IS NOT NULL AND revoked_at IS NULL;
