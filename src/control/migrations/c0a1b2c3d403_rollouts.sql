-- revision: c0a1b2c3d403
-- down_revision: c0a1b2c3d402
-- message: fleet rollouts and their tenants

-- upgrade
CREATE TABLE rollouts (
    id UUID NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    target TEXT NOT NULL,
    selector JSONB NOT NULL,
    -- Cumulative wave sizes, resolved against the fleet when the rollout was created.
    wave_sizes INTEGER[] NOT NULL,
    waves JSONB NOT NULL,
    max_parallel INTEGER NOT NULL CHECK (max_parallel > 0),
    failure_threshold JSONB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'halted', 'succeeded', 'failed', 'cancelled')),
    current_wave INTEGER NOT NULL DEFAULT 0,
    total_tenants INTEGER NOT NULL,
    callback_url TEXT,
    callback_url_sealed TEXT,
    event_seq INTEGER NOT NULL DEFAULT 0,
    halted_reason TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    CONSTRAINT rollouts_pkey PRIMARY KEY (id),
    CONSTRAINT rollouts_seq_key UNIQUE (seq)
);
CREATE INDEX rollouts_active_idx ON rollouts (seq) WHERE state IN ('running', 'paused');

CREATE TABLE rollout_tenants (
    rollout_id UUID NOT NULL,
    tenant_id TEXT NOT NULL,
    wave INTEGER NOT NULL,
    position INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'succeeded', 'failed', 'skipped', 'cancelled')),
    job_id UUID,
    error JSONB,
    CONSTRAINT rollout_tenants_pkey PRIMARY KEY (rollout_id, tenant_id),
    CONSTRAINT rollout_tenants_rollout_fkey FOREIGN KEY (rollout_id) REFERENCES rollouts (id) ON DELETE CASCADE
);
CREATE INDEX rollout_tenants_wave_idx ON rollout_tenants (rollout_id, wave, state, position);
CREATE INDEX rollout_tenants_job_idx ON rollout_tenants (job_id);

ALTER TABLE webhook_deliveries ADD COLUMN rollout_id UUID;
CREATE INDEX webhook_deliveries_rollout_idx ON webhook_deliveries (rollout_id, seq);

-- downgrade
DROP INDEX webhook_deliveries_rollout_idx;
ALTER TABLE webhook_deliveries DROP COLUMN rollout_id;
DROP TABLE rollout_tenants;
DROP TABLE rollouts;
