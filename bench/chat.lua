-- wrk script: POST a realistic chat completion request (about 600 bytes of user text).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local text = "Hi, I ordered the Summit 3-in-1 waterproof jacket in size M last Tuesday and " ..
  "the tracking page has said 'label created' for five days now. I need it for a hiking " ..
  "trip to the Dolomites on the 14th. Could you check whether it has actually shipped, " ..
  "and if it hasn't, whether you can upgrade the delivery to express at no extra cost? " ..
  "If it can't arrive in time I'd rather cancel and buy the same jacket in store, so " ..
  "please also tell me how returns work for online orders picked up in a shop. My order " ..
  "number is AO-58213-UK. Thanks a lot for your help, the last jacket I bought was great."
local stream = os.getenv("WRK_STREAM") == "1"
wrk.body = '{"model":"mock-1","stream":' .. (stream and "true" or "false") ..
  ',"messages":[{"role":"system","content":"You are the Acme Outfitters assistant."},' ..
  '{"role":"user","content":"' .. text .. '"}]}'

-- wrk prints 50/75/90/99 only: add the 99.9th percentile (milliseconds).
done = function(summary, latency, requests)
  io.write(string.format("P999_MS %.3f\n", latency:percentile(99.9) / 1000))
end
