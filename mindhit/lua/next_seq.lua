-- A user's next server seq (mindhit/session_log.py): start the counter at the clock when
-- it is missing (a counter Redis lost must not start again from 1), then count one up.
-- One key, so one Redis Cluster slot; a script rather than MULTI/EXEC.
-- KEYS[1] <prefix>:{pN}:seq:server:<user_id>   ARGV[1] now, Unix ms
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('INCR', KEYS[1])
