-- Values of any length in the search indexes. A btree entry must fit in a third of a page (2,704
-- bytes), and a FHIR string may be a megabyte: a 16,000-character note or a 3,000-character
-- identifier could not be stored at all. The columns the value indexes hold now keep at most
-- 200 characters (store/index-key.ts); a longer value keeps its first 200 there and the whole
-- of it in the new *_full column, which searches re-check (store/search/sql-key.ts). The indexes
-- themselves are unchanged, so short values are found exactly as before, index-only.
ALTER TABLE idx_string ADD COLUMN norm_full text;
UPDATE idx_string SET norm_full = norm, norm = left(norm, 200) WHERE length(norm) > 200;

ALTER TABLE idx_token ADD COLUMN code_full text;
ALTER TABLE idx_token ADD COLUMN system_full text;
UPDATE idx_token SET code_full = code, code = left(code, 200) WHERE length(code) > 200;
UPDATE idx_token SET system_full = system, system = left(system, 200) WHERE length(system) > 200;

ALTER TABLE idx_uri ADD COLUMN value_full text;
UPDATE idx_uri SET value_full = value, value = left(value, 200) WHERE length(value) > 200;

ALTER TABLE idx_reference ADD COLUMN url_full text;
UPDATE idx_reference SET url_full = url, url = left(url, 200) WHERE length(url) > 200;
