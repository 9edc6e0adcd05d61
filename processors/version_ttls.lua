-- How long each URL-version marker (KEYS) still lives, in one call: PTTL of each, -2 for
-- a marker that does not exist (the version was never announced), -1 for one without a
-- lifetime (processors/announced.py; a standalone Redis: the keys are in many cluster
-- slots, so there the PTTLs go one by one).
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('PTTL', KEYS[i])
end
return out
