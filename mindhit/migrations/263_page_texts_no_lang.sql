-- A page text is shared by every reader of its hash, but its lang was the first
-- uploader's (whatever their client sent: up to 35 characters) and stayed on the row
-- after they were erased while another reader kept the text. Nothing reads it, so the
-- projector no longer writes it (projector/folds.py) and the values kept are emptied.
UPDATE page_texts SET lang = '' WHERE lang <> '';
