-- revision: c0a1b2c3d402
-- down_revision: c0a1b2c3d401
-- message: webhook subscriptions, deliveries and their attempts; sealed job callback URLs

-- upgrade
CREATE TABLE webhook_subscriptions (
    id UUID NOT NULL,
    url_sealed TEXT NOT NULL,
    url_masked TEXT NOT NULL,
    event_types TEXT[] NOT NULL,
    description TEXT,
    secret_sealed TEXT NOT NULL,
    -- After a rotation the previous secret keeps signing (beside the new one) until it expires.
    previous_secret_sealed TEXT,
    previous_secret_expires_at TIMESTAMPTZ,
    enabled BOOLEAN NOT NULL DEFAULT true,
    disabled_reason TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT webhook_subscriptions_pkey PRIMARY KEY (id)
);

CREATE TABLE webhook_deliveries (
    id UUID NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    subscription_id UUID,
    job_id UUID,
    url_sealed TEXT NOT NULL,
    url_masked TEXT NOT NULL,
    -- The Standard Webhooks webhook-id: the same for every attempt, so receivers can deduplicate.
    message_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload JSONB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    last_status_code INTEGER,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_deliveries_seq_key UNIQUE (seq),
    CONSTRAINT webhook_deliveries_subscription_fkey FOREIGN KEY (subscription_id)
        REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_job_fkey FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_subscription_idx ON webhook_deliveries (subscription_id, seq DESC);
CREATE INDEX webhook_deliveries_job_idx ON webhook_deliveries (job_id, seq);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

CREATE TABLE webhook_attempts (
    delivery_id UUID NOT NULL,
    attempt INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    response_excerpt TEXT,
    error TEXT,
    next_attempt_at TIMESTAMPTZ,
    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (delivery_id, attempt),
    CONSTRAINT webhook_attempts_delivery_fkey FOREIGN KEY (delivery_id)
        REFERENCES webhook_deliveries (id) ON DELETE CASCADE
);

-- A job's callback URL may carry credentials: keep it sealed; callback_url holds the masked form.
ALTER TABLE jobs ADD COLUMN callback_url_sealed TEXT;

-- downgrade
ALTER TABLE jobs DROP COLUMN callback_url_sealed;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_subscriptions;
