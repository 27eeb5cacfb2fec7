-- `INSERT OR REPLACE` removes the row it replaces without firing the DELETE trigger: an insert
-- whose id is taken is refused before SQLite gets to resolve the conflict.
CREATE TRIGGER audit_log_never_replaced BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit rows are never replaced');
END;
