-- The log epoch each checkpoint was read in (see mindhit/log_epoch.py): a Redis that lost
-- its data comes back with another epoch (or none), which tells it from an idle log.
-- NULL: written before epochs existed (adopted by the next write while the stream reaches it).
ALTER TABLE projection_checkpoints ADD COLUMN IF NOT EXISTS epoch text;
