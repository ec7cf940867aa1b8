-- revision: c0a1b2c3d411
-- down_revision: c0a1b2c3d410
-- message: webhook deliveries count their redelivery requests

-- upgrade
-- Bumped by each POST /v1/deliveries/{id}/redeliver. An attempt in flight when one comes (its
-- queue entry is active, so the request cannot queue another) compares it with what it read when
-- it started: if it moved, the attempt records itself without deciding the delivery's state and
-- the redelivery is sent right after it, instead of being overwritten or merged into it.
ALTER TABLE webhook_deliveries ADD COLUMN redeliveries INTEGER NOT NULL DEFAULT 0;

-- downgrade
ALTER TABLE webhook_deliveries DROP COLUMN redeliveries;
