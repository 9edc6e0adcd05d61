-- Publish the assignment of a generation (the first publisher wins; all compute the same).
-- KEYS[1] group state hash; ARGV[1] generation, ARGV[2] assignment (JSON list of owners).
-- Returns 1 when stored, 0 when the generation moved on or it was already published.
if redis.call('HGET', KEYS[1], 'generation') ~= ARGV[1] then
  return 0
end
if redis.call('HEXISTS', KEYS[1], 'assignment') == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'assignment', ARGV[2], 'last', ARGV[2])
return 1
