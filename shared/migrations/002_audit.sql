-- The audit trail (NEN 7513): who (person, role) read or changed which case, when, what action,
-- from which address, and the outcome. Append-only: no role can update a row, and a row can be
-- deleted only once it is older than the retention (the purge); the retention can be raised but
-- not lowered by the services (lowering it is a change a database administrator makes by hand).
CREATE TABLE audit (
    id       bigserial   PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    service  text        NOT NULL,
    person   text        NOT NULL,
    role     text        NOT NULL,
    case_id  text,
    action   text        NOT NULL,
    address  text,
    outcome  text        NOT NULL CHECK (outcome IN ('allowed', 'refused')),
    detail   text
);
CREATE INDEX audit_case ON audit (case_id, id);
CREATE INDEX audit_at ON audit (at);

CREATE TABLE audit_policy (
    only_row  boolean  PRIMARY KEY DEFAULT true CHECK (only_row),
    retention interval NOT NULL
);
INSERT INTO audit_policy (retention) VALUES (interval '7305 days');

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.at < now() - (SELECT retention FROM audit_policy) THEN
        RETURN OLD;  -- past its retention: the purge may remove it
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();

CREATE FUNCTION audit_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only (TRUNCATE refused)' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_no_truncate();

CREATE FUNCTION audit_retention_only_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.retention < OLD.retention THEN
        RAISE EXCEPTION 'the audit retention can only be raised' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_retention_only_up BEFORE UPDATE OR DELETE ON audit_policy
    FOR EACH ROW EXECUTE FUNCTION audit_retention_only_up();

REVOKE UPDATE, DELETE, TRUNCATE ON audit FROM PUBLIC;
