-- Each tenant's audit rows form a chain of their own, keyed by the server key file: `seq` is
-- a row's place in its tenant's chain. Rows written before have no `seq` and stay in the
-- older global chain, which each tenant's chain starts from.
ALTER TABLE audit_log ADD COLUMN seq INTEGER;
CREATE UNIQUE INDEX audit_log_tenant_seq ON audit_log(tenant_id, seq) WHERE seq IS NOT NULL;

-- A replacing insert may now collide on the tenant's place in the chain as well as on the id.
DROP TRIGGER audit_log_never_replaced;
CREATE TRIGGER audit_log_never_replaced BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id OR (tenant_id = NEW.tenant_id AND seq = NEW.seq))
BEGIN
    SELECT RAISE(ABORT, 'audit rows are never replaced');
END;
