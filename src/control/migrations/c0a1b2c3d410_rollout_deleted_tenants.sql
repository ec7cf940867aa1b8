-- revision: c0a1b2c3d410
-- down_revision: c0a1b2c3d409
-- message: a rollout's tenants deleted while it ran are skipped (TENANT_DELETED), not failed

-- upgrade
-- A rollout's view lists the tenants it skipped because they were deleted (those with a reason;
-- tenants skipped as already at the target have none). A partial index keeps that list from
-- reading every skipped tenant of a rollout of thousands already at the target.
CREATE INDEX rollout_tenants_skipped_with_reason_idx ON rollout_tenants (rollout_id, wave, position)
    WHERE state = 'skipped' AND error IS NOT NULL;
-- Tenants recorded as failed with TENANT_NOT_FOUND before stay so; a retry re-queues them, and
-- they are then skipped.

-- downgrade
DROP INDEX rollout_tenants_skipped_with_reason_idx;
