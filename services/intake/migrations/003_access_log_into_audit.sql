-- The access log is replaced by the platform's audit trail (shared/migrations/002_audit.sql):
-- its rows move there as allowed actions of intake (the log kept no role and no address).
INSERT INTO audit (at, service, person, role, case_id, action, address, outcome, detail)
SELECT at, 'intake', actor, '', case_id, action, NULL, 'allowed', 'copied from access_log'
FROM access_log
ORDER BY id;

DROP TABLE access_log;
