-- A counter that moves whenever a row that decides who a request is, or what it may open,
-- changes: whoever writes (the server, the command line), the triggers bump it. The server
-- caches those rows while the counter stays put (`store::cache`). Impersonations start and end
-- all the time and are read only by the requests they concern: they are not cached.
CREATE TABLE access_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
) STRICT;

INSERT INTO access_version (id, value) VALUES (1, 1);


CREATE TRIGGER tenants_insert_moves_access AFTER INSERT ON tenants
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER tenants_update_moves_access AFTER UPDATE ON tenants
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER tenants_delete_moves_access AFTER DELETE ON tenants
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;


CREATE TRIGGER users_insert_moves_access AFTER INSERT ON users
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER users_update_moves_access AFTER UPDATE ON users
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER users_delete_moves_access AFTER DELETE ON users
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;


CREATE TRIGGER groups_insert_moves_access AFTER INSERT ON groups
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER groups_update_moves_access AFTER UPDATE ON groups
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER groups_delete_moves_access AFTER DELETE ON groups
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;


CREATE TRIGGER group_members_insert_moves_access AFTER INSERT ON group_members
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER group_members_update_moves_access AFTER UPDATE ON group_members
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER group_members_delete_moves_access AFTER DELETE ON group_members
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;


CREATE TRIGGER projects_insert_moves_access AFTER INSERT ON projects
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER projects_update_moves_access AFTER UPDATE ON projects
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER projects_delete_moves_access AFTER DELETE ON projects
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;


CREATE TRIGGER project_permissions_insert_moves_access AFTER INSERT ON project_permissions
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER project_permissions_update_moves_access AFTER UPDATE ON project_permissions
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER project_permissions_delete_moves_access AFTER DELETE ON project_permissions
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;


CREATE TRIGGER webapps_insert_moves_access AFTER INSERT ON webapps
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER webapps_update_moves_access AFTER UPDATE ON webapps
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER webapps_delete_moves_access AFTER DELETE ON webapps
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;


CREATE TRIGGER impersonation_grants_insert_moves_access AFTER INSERT ON impersonation_grants
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER impersonation_grants_update_moves_access AFTER UPDATE ON impersonation_grants
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER impersonation_grants_delete_moves_access AFTER DELETE ON impersonation_grants
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;


CREATE TRIGGER settings_insert_moves_access AFTER INSERT ON settings
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER settings_update_moves_access AFTER UPDATE ON settings
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER settings_delete_moves_access AFTER DELETE ON settings
BEGIN UPDATE access_version SET value = value + 1 WHERE id = 1; END;
