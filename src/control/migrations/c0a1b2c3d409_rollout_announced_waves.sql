-- revision: c0a1b2c3d409
-- down_revision: c0a1b2c3d408
-- message: remember which waves of a rollout were announced complete, so a retry does not announce them again

-- upgrade
-- rollout.wave_completed is sent once per completion of a wave. A retry moves the rollout back to
-- the earliest wave with a re-queued tenant and walks forward again: the waves it passes through
-- unchanged were announced already, and only the waves it re-queued tenants of complete again.
-- The coordinator reads this with the rollout's row and adds a wave in the update that moves the
-- rollout past it, so announcing costs no statement of its own.
ALTER TABLE rollouts ADD COLUMN announced_waves INTEGER[] NOT NULL DEFAULT '{}';
-- Rollouts from before: every wave they moved past was announced, and so was the last wave of
-- those that finished every wave.
UPDATE rollouts
   SET announced_waves = ARRAY(
         SELECT generate_series(0, current_wave - CASE WHEN state IN ('succeeded', 'failed') THEN 0 ELSE 1 END))
 WHERE current_wave > 0 OR state IN ('succeeded', 'failed');

-- downgrade
ALTER TABLE rollouts DROP COLUMN announced_waves;
