-- wrk script: POST a realistic chat completion request (about 600 bytes of user text).
-- Every request's text is different (its order number counts up), so that nothing the
-- gateway remembers between requests (its screen cache of clean texts) can answer it.
-- WRK_STREAM=1 asks for a streamed reply. WRK_TURNS=N puts N earlier turns of the
-- conversation (a user message and the assistant's answer each) before the new message,
-- as chat clients send them with every request; they are the same in every request.
-- The message ends with a word of praise, which the cx pack flags, so every request has one
-- finding to record; WRK_CLEAN=1 ends it with a neutral sentence of the same length instead,
-- so that no request has any (what recording costs when nothing is found).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local text = "Hi, I ordered the Summit 3-in-1 waterproof jacket in size M last Tuesday and " ..
  "the tracking page has said 'label created' for five days now. I need it for a hiking " ..
  "trip to the Dolomites on the 14th. Could you check whether it has actually shipped, " ..
  "and if it hasn't, whether you can upgrade the delivery to express at no extra cost? " ..
  "If it can't arrive in time I'd rather cancel and buy the same jacket in store, so " ..
  "please also tell me how returns work for online orders picked up in a shop. My order " ..
  "number is AO-%05d-UK. " ..
  (os.getenv("WRK_CLEAN") == "1" and "I will keep an eye on my inbox for your answer over the weekend."
                                  or "Thanks a lot for your help, the last jacket I bought was great.")
local earlier = {
  "I'm planning a week of hut-to-hut hiking in the Alps in late September and I'm not sure " ..
  "which of your rain shells would suit me best. I run warm, carry a 30 litre pack and " ..
  "mostly need something light that still holds up in a full day of rain on exposed ridges.",
  "That sounds good. How does the sizing of the Summit run compared to the Ridgeline fleece " ..
  "I bought from you two years ago? That one is a medium and fits well over a base layer, " ..
  "but I would like room for a light insulated jacket underneath on cold mornings.",
  "Great, then I'll take the medium in the blue colour. Does it come with the stuff sack, " ..
  "and can I still use the loyalty voucher from my spring order on it? I think it was for " ..
  "fifteen percent off any full-price item and it should still be valid until December.",
  "Perfect, I've placed the order just now. One more thing: if the weather turns out dry " ..
  "and I never wear it on the trip, can I still return it afterwards as long as the tags " ..
  "are on, or does the return window start from the day the parcel was delivered to me?",
}
local answers = {
  "For warm hikers with a mid-size pack, the Summit 3-in-1 shell is our lightest fully " ..
  "taped jacket; its pit zips help on climbs and the hood fits over a helmet.",
  "The Summit runs true to size with an athletic cut; a medium leaves room for a thin " ..
  "insulated layer, and the cuffs adjust so the sleeves stay put.",
  "Yes, the stuff sack is included, and your voucher can be used at checkout on any " ..
  "full-price item until the end of December.",
  "You can return unworn items with their tags within 60 days of delivery, whatever the " ..
  "reason, and the return label is free for loyalty members.",
}
local stream = os.getenv("WRK_STREAM") == "1"
local turns = tonumber(os.getenv("WRK_TURNS") or "0")
local head = '{"model":"mock-1","stream":' .. (stream and "true" or "false") ..
  ',"messages":[{"role":"system","content":"You are the Acme Outfitters assistant."},'
for i = 1, turns do
  local k = (i - 1) % #earlier + 1
  head = head .. '{"role":"user","content":"' .. earlier[k] .. ' (' .. i .. ')"},' ..
    '{"role":"assistant","content":"' .. answers[k] .. '"},'
end
local n = 0

request = function()
  n = n + 1
  local body = head .. '{"role":"user","content":"' .. string.format(text, n % 100000) .. '"}]}'
  return wrk.format(nil, nil, nil, body)
end

-- wrk prints 50/75/90/99 only: add the 99.9th percentile (milliseconds).
done = function(summary, latency, requests)
  io.write(string.format("P999_MS %.3f\n", latency:percentile(99.9) / 1000))
end
