-- revision: c0a1b2c3d415
-- down_revision: c0a1b2c3d414
-- message: mark a tenant whose database or schema is being dropped (DELETE ?drop=true)

-- upgrade
-- Set, in a short transaction, when DELETE ?drop=true begins dropping what was provisioned for the
-- tenant; the tenant is deleted once the drop succeeded, the mark cleared if it failed. While it is
-- set no job is created for the tenant (409 TENANT_DELETING), without anyone waiting for the drop.
-- Nullable without a default: adding it rewrites nothing.
ALTER TABLE tenants ADD COLUMN deleting_since TIMESTAMPTZ;

-- downgrade
ALTER TABLE tenants DROP COLUMN deleting_since;
