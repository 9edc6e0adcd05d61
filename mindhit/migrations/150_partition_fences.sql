-- Fencing tokens of the projector's partitions: a replica that takes a partition's
-- lease bumps the partition's token here before it reads the partition's checkpoints,
-- and every fold or archive commit of the partition compares its token in the same
-- transaction (projector/fencing.py), so a replica that lost the partition (paused past
-- its lease, cut off) can never commit for it afterwards.
CREATE TABLE IF NOT EXISTS partition_fences (
    partition  int PRIMARY KEY,
    token      bigint NOT NULL,
    holder     text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now()
);
