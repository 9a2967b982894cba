-- wrk script: durable device creates, each with a unique SIP username.
local counter = 0
local thread_id = 0
function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end
function init(args)
  token, account = args[1], args[2]
  prefix = string.format("t%d-%d-", tid, math.random(1, 1000000000))
end
function request()
  counter = counter + 1
  local body = string.format('{"data":{"name":"bench %s%d","sip":{"username":"%s%d","password":"secret123"}}}', prefix, counter, prefix, counter)
  return wrk.format("PUT", "/v2/accounts/" .. account .. "/devices", {["X-Auth-Token"] = token, ["Content-Type"] = "application/json"}, body)
end
function done(summary, latency, requests)
  io.write(string.format("p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d errors=%d\n",
    latency:percentile(50)/1000, latency:percentile(99)/1000, summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
