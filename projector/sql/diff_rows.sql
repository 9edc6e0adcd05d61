-- How many rows differ between a live table {l} and its shadow {s}.
SELECT count(*) FROM ((TABLE {l} EXCEPT TABLE {s}) UNION ALL (TABLE {s} EXCEPT TABLE {l})) x
