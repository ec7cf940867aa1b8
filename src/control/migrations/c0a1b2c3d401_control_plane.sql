-- revision: c0a1b2c3d401
-- down_revision: none
-- message: control plane: tenants, jobs, job events, idempotency keys

-- upgrade
CREATE TABLE tenants (
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    tags TEXT[] NOT NULL DEFAULT '{}',
    -- AES-256-GCM sealed; the masked form is what responses show.
    database_url_sealed TEXT NOT NULL,
    database_url_masked TEXT NOT NULL,
    schema_name TEXT NOT NULL DEFAULT 'public',
    -- Mirror of the tenant's version table as last seen, for fleet-wide queries.
    heads TEXT[],
    heads_seen_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT tenants_pkey PRIMARY KEY (id)
);
CREATE INDEX tenants_tags_idx ON tenants USING gin (tags);
CREATE INDEX tenants_heads_idx ON tenants USING gin (heads);

CREATE TABLE jobs (
    id UUID NOT NULL,
    -- Monotonic order for cursors (uuids do not sort by time).
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    tenant_id TEXT NOT NULL,
    operation TEXT NOT NULL CHECK (operation IN ('upgrade', 'downgrade', 'stamp')),
    target TEXT NOT NULL,
    transaction_mode TEXT NOT NULL CHECK (transaction_mode IN ('per-revision', 'all')),
    lock_timeout_ms INTEGER,
    statement_timeout_ms INTEGER,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    phase TEXT,
    from_heads TEXT[],
    to_heads TEXT[],
    steps_done INTEGER NOT NULL DEFAULT 0,
    steps_total INTEGER,
    current_revision TEXT,
    steps JSONB NOT NULL DEFAULT '[]',
    error JSONB,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    callback_url TEXT,
    callback_secret_sealed TEXT,
    rollout_id UUID,
    worker_id TEXT,
    heartbeat_at TIMESTAMPTZ,
    event_seq INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT jobs_pkey PRIMARY KEY (id),
    CONSTRAINT jobs_seq_key UNIQUE (seq),
    CONSTRAINT jobs_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
);
-- At most one active job per tenant, enforced by the database so two API instances cannot race.
CREATE UNIQUE INDEX jobs_one_active_per_tenant ON jobs (tenant_id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_tenant_seq_idx ON jobs (tenant_id, seq DESC);
CREATE INDEX jobs_state_seq_idx ON jobs (state, seq DESC);

CREATE TABLE job_events (
    job_id UUID NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    data JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT job_events_pkey PRIMARY KEY (job_id, seq),
    CONSTRAINT job_events_job_fkey FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE
);

CREATE TABLE idempotency_keys (
    principal TEXT NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    -- NULL while the first request is still being handled.
    status_code INTEGER,
    response_headers JSONB,
    response_body JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (principal, key)
);

-- downgrade
DROP TABLE idempotency_keys;
DROP TABLE job_events;
DROP TABLE jobs;
DROP TABLE tenants;
