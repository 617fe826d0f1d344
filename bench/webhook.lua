-- wrk script: POST pre-signed Stripe events to /webhooks/stripe, each event once.
-- bench/run.py writes the events (one "signature<TAB>payload" per line) and signs them just
-- before the run, since Stripe signatures are only good for 300 seconds.
-- Usage: wrk ... -s bench/webhook.lua http://host:port -- <events file> <number of wrk threads>

local events = {}
local next_event = 0
local stride = 1
local threads = 0

function setup(thread)
  -- Each thread starts at its own offset and steps by the thread count, so no two send the same event.
  thread:set("thread_index", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(args[1]) do
    local signature, payload = line:match("^([^\t]+)\t(.+)$")
    events[#events + 1] = { signature, payload }
  end
  stride = tonumber(args[2]) or 1
  next_event = thread_index or 0
end

function request()
  -- Past the end the events repeat; the app answers those "duplicate" (run.py reports how many).
  local event = events[(next_event % #events) + 1]
  next_event = next_event + stride
  return wrk.format("POST", "/webhooks/stripe",
    { ["Content-Type"] = "application/json", ["Stripe-Signature"] = event[1] }, event[2])
end
