-- Release one user's hold on a page text; delete the text when nobody holds it any more.
--
-- KEYS[1]  <prefix>:content-holders:{<hash>} set of user ids holding the text
-- KEYS[2]  <prefix>:content:{<hash>}         the text (same hash tag: one slot)
-- ARGV[1]  the user id
-- Returns the number of keys deleted (0, or 2 when the text went).
--
-- One script, so a hold taken concurrently (SADD) is either seen here or comes after
-- the delete (and its upload then stores the text again).
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) == 0 then
  return redis.call('DEL', KEYS[1], KEYS[2]) + 1
end
return 0
