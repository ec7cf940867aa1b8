-- revision: 3c0000000001
-- down_revision: 1a000000000a
-- message: audit: create audit_log
-- branch_labels: audit

-- upgrade
CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id BIGINT REFERENCES users (id),
    action TEXT NOT NULL,
    details JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- downgrade
DROP TABLE audit_log;
