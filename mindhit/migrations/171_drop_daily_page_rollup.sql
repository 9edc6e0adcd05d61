-- The overview reads a day's or week's most-read pages from page_visits (web/overview.py
-- _DAY_PAGES): the daily page rollup held nearly a row per visit for a heavy reader,
-- answered no faster, and cost every folded visit a rollup row. The monthly page rollup
-- (its top index serves the month view) and the day/domain rollups stay.
DROP TABLE IF EXISTS overview_pages__shadow;
DROP TABLE IF EXISTS overview_pages;
