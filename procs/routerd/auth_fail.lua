-- A failed authentication from one address (fail2ban style). KEYS[1] sb:authfail:{ADDR}
-- (the count in the window), KEYS[2] sb:ban:{ADDR}; ARGV[1] window ms, ARGV[2] failures
-- that ban, ARGV[3] ban ms, ARGV[4] now (ms, stored as the ban's start).
-- Returns 1 when this failure banned the address.
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
if n >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
