-- Attended time per day for the calendar heatmap (a year of overview_days rows at most).
SELECT day, dwell_ms FROM overview_days
WHERE user_id = %(user_id)s AND day >= %(start)s AND day < %(end)s
ORDER BY day
