-- Rebuild the branch rollup of the sessions in tmp_branch_sessions from mindmap_graphs:
-- one row per top-level topic of the map, its dwell (its own, else its pages' sum) and
-- page count; the day is the session's UUIDv7 creation time (else the map's build time).
DELETE FROM {overview_branches} o USING tmp_branch_sessions t
WHERE o.user_id = t.user_id AND o.session_id = t.session_id;

INSERT INTO {overview_branches} (user_id, session_id, branch, day, label, dwell_ms, pages)
SELECT m.user_id, m.session_id, (b.ord - 1)::int,
       (CASE WHEN substr(m.session_id::text, 15, 1) = '7'
             THEN timestamptz 'epoch'
                  + ('x' || replace(left(m.session_id::text, 13), '-', ''))::bit(48)::bigint
                  * interval '1 ms'
             ELSE m.built_at END AT TIME ZONE 'UTC')::date,
       left(coalesce(b.node ->> 'label', ''), 200),
       coalesce(nullif((b.node ->> 'weight_ms')::bigint, 0),
                (SELECT sum(coalesce((c ->> 'weight_ms')::bigint, 0))
                 FROM jsonb_array_elements(coalesce(b.node -> 'children', '[]')) c), 0),
       greatest((SELECT count(*) FROM jsonb_array_elements(coalesce(b.node -> 'children', '[]')) c
                 WHERE coalesce(c ->> 'url', '') <> ''),
                CASE WHEN coalesce(b.node ->> 'url', '') <> '' THEN 1 ELSE 0 END)::int
FROM {mindmap_graphs} m
JOIN tmp_branch_sessions t ON t.user_id = m.user_id AND t.session_id = m.session_id
CROSS JOIN LATERAL jsonb_array_elements(
    coalesce(m.graph -> 'root' -> 'children', m.graph -> 'children', '[]')
) WITH ORDINALITY AS b(node, ord);
