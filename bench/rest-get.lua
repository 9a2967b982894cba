-- wrk script: GET one device with a token.
function init(args)
  token, path = args[1], args[2]
  wrk.headers["X-Auth-Token"] = token
  wrk.path = path
end
function done(summary, latency, requests)
  io.write(string.format("p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d errors=%d\n",
    latency:percentile(50)/1000, latency:percentile(99)/1000, summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
