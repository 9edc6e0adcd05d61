-- Sessions whose visits differ between the live table and its shadow, with the visit
-- count and total dwell on each side.
WITH a AS (SELECT session_id, count(*) n, sum(dwell_ms) d FROM page_visits GROUP BY 1),
     b AS (SELECT session_id, count(*) n, sum(dwell_ms) d FROM {shadow} GROUP BY 1),
     diff AS (
         SELECT DISTINCT session_id FROM (
             (SELECT * FROM page_visits EXCEPT SELECT * FROM {shadow})
             UNION ALL (SELECT * FROM {shadow} EXCEPT SELECT * FROM page_visits)
         ) x
     )
SELECT diff.session_id::text, a.n, a.d, b.n, b.d
FROM diff LEFT JOIN a USING (session_id) LEFT JOIN b USING (session_id)
LIMIT %s
