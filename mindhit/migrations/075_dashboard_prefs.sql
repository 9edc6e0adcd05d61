-- Dashboard choices a user makes (issue 16): the mind-map view (2D or 3D) and how long
-- their history is kept (NULL = the operator's default, MINDHIT_RETENTION_DAYS).
ALTER TABLE user_settings
    ADD COLUMN map_view text NOT NULL DEFAULT '2d' CHECK (map_view IN ('2d', '3d')),
    ADD COLUMN retention_days integer CHECK (retention_days IS NULL OR retention_days > 0);
