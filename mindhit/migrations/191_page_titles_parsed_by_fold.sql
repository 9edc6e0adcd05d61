-- Migration 190 undone (issue 14): the projector parses a new title's search vector again
-- where it writes the row. Leaving it to housekeeping took ~0.3 s of backend CPU per
-- 100,000 new titles off the fold but cost the fill pass ~0.8 s (every row rewritten),
-- with no measured gain in the fold's rate (README, Overview rollups). Vectors a fill
-- pass had not reached yet are parsed here, with the expression the fold uses.
UPDATE page_titles SET search = setweight(to_tsvector('english'::regconfig, title), 'A')
WHERE search IS NULL;
ALTER TABLE page_titles ALTER COLUMN search SET NOT NULL;
DROP TABLE IF EXISTS page_titles_unparsed;
