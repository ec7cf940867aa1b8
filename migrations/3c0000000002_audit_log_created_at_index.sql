-- revision: 3c0000000002
-- down_revision: 3c0000000001
-- message: audit: index audit_log by time

-- upgrade
CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);

-- downgrade
DROP INDEX audit_log_created_at_idx;
