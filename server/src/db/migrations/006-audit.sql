-- The audit trail (server/src/audit/README.md). AuditEvents are ordinary rows of `resource` and
-- `resource_history` (so FHIR search finds them through the usual indexes); this file makes them
-- append-only in the database itself and adds the per-tenant hash chain.

-- One row per AuditEvent, added by a trigger when the AuditEvent row is inserted, so no AuditEvent
-- can enter `resource` without entering the chain. `seq` is taken inside the writing transaction
-- and costs no lock; `pos` and `hash` are filled after commit by the sealer
-- (server/src/audit/hash-chain.ts), which chains the unsealed rows of a tenant in seq order under
-- an advisory lock. hash = sha256(previous hash || pos || content), hex.
CREATE SEQUENCE audit_seq;
CREATE TABLE audit_chain (
  tenant text NOT NULL,
  seq bigint NOT NULL DEFAULT nextval('audit_seq'),
  id text NOT NULL,
  pos bigint,
  hash text,
  sealed_at timestamptz,
  PRIMARY KEY (tenant, seq)
);
CREATE UNIQUE INDEX audit_chain_pos ON audit_chain (tenant, pos);
CREATE INDEX audit_chain_unsealed ON audit_chain (tenant, seq) WHERE hash IS NULL;

CREATE FUNCTION audit_chain_enter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_chain (tenant, id) VALUES (NEW.tenant, NEW.id);
  RETURN NULL;
END
$$;
-- WHEN is checked without entering plpgsql, so other resource types pay almost nothing.
CREATE TRIGGER resource_audit_chain AFTER INSERT ON resource
  FOR EACH ROW WHEN (NEW.type = 'AuditEvent') EXECUTE FUNCTION audit_chain_enter();

-- Append-only: nobody (the server included) may change or remove an AuditEvent version.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'AuditEvent records are append-only' USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER resource_audit_append_only BEFORE UPDATE OR DELETE ON resource
  FOR EACH ROW WHEN (OLD.type = 'AuditEvent') EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER resource_history_audit_append_only BEFORE UPDATE OR DELETE ON resource_history
  FOR EACH ROW WHEN (OLD.type = 'AuditEvent') EXECUTE FUNCTION audit_append_only();

-- The chain itself: a row may be sealed once (pos and hash set from NULL) and never changed again.
CREATE FUNCTION audit_chain_seal_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND OLD.pos IS NULL AND NEW.tenant = OLD.tenant
     AND NEW.seq = OLD.seq AND NEW.id = OLD.id AND NEW.hash IS NOT NULL AND NEW.pos IS NOT NULL THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the audit chain is append-only' USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
  FOR EACH ROW EXECUTE FUNCTION audit_chain_seal_once();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
