-- revision: c0a1b2c3d407
-- down_revision: c0a1b2c3d406
-- message: idempotency keys expire (index their age) and their stored responses are sealed

-- upgrade
-- Keys are kept for a retention period (24 h) and then deleted by the reconciler in every
-- process, every pass (15 s by default): without an index each pass would scan the whole table.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- A stored response may hold a secret shown once (a webhook subscription's signing secret), so
-- it is kept sealed like every other secret (AES-256-GCM, FLEETWAY_ENCRYPTION_KEY): the JSON of
-- the body, sealed by the service. response_body now stays NULL; rows written before are still
-- replayed from it until they expire, except those holding a signing secret, deleted here (a
-- retry with such a key subscribes or rotates again, with a new secret, instead of replaying).
ALTER TABLE idempotency_keys ADD COLUMN response_sealed TEXT;
DELETE FROM idempotency_keys WHERE response_body ? 'secret';

-- downgrade
-- Older code replays response_body, which sealed rows do not have: forget their responses.
DELETE FROM idempotency_keys WHERE response_sealed IS NOT NULL;
ALTER TABLE idempotency_keys DROP COLUMN response_sealed;
DROP INDEX idempotency_keys_created_at;
