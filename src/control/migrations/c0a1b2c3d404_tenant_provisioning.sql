-- revision: c0a1b2c3d404
-- down_revision: c0a1b2c3d403
-- message: remember what Fleetway provisioned for a tenant, and when it was first ready

-- upgrade
-- {"database": "<name>"} or {"schema": "<name>"}: what DELETE ?drop=true may drop, and nothing else.
ALTER TABLE tenants ADD COLUMN provisioned JSONB;
ALTER TABLE tenants ADD COLUMN ready_at TIMESTAMPTZ;

-- downgrade
ALTER TABLE tenants DROP COLUMN ready_at;
ALTER TABLE tenants DROP COLUMN provisioned;
