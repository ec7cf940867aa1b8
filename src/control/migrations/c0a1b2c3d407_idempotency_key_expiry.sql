-- revision: c0a1b2c3d407
-- down_revision: c0a1b2c3d406
-- message: idempotency keys expire: index their age

-- upgrade
-- Keys are kept for a retention period (24 h) and then deleted by the reconciler in every
-- process, every pass (15 s by default): without an index each pass would scan the whole table.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- downgrade
DROP INDEX idempotency_keys_created_at;
