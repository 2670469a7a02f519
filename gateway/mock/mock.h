/* The built-in mock provider, for `make run`, the tests and the benches, with no network and
 * no key. It speaks three APIs, plain and streamed (SSE) in each one's real wire format:
 * OpenAI chat completions (POST /v1/chat/completions), Anthropic messages (POST
 * /v1/messages) and OpenAI responses (POST /v1/responses). A request steers it through an
 * extra top-level "mock" object (the gateway forwards it untouched):
 *   "mock": {"reply": "text",      the reply (default: a canned answer quoting the prompt)
 *            "echo": true,         reply with the user messages it received, joined by \n
 *            "echo_header": "Authorization"  reply with that request header's value
 *            "chunk": 16,          bytes per streamed delta (never splits a UTF-8 character)
 *            "chunk_delay_ms": 0,  pause between deltas
 *            "delay_ms": 0,        pause before answering (for timeout tests)
 *            "status": 500,        answer with this HTTP status and the API's error shape
 *            "reset_after": 3,     drop the connection after this many deltas
 *            "end_delay_ms": 0,    pause between the last event ([DONE], message_stop,
 *                                  response.completed) and the end of the streamed reply
 *            "id": "chatcmpl-x",   the id the chunks carry (Anthropic: the message's id,
 *                                  responses: the response's id)
 *            "tool_arguments": "{...}",  answer with a tool call carrying these arguments
 *                                        (streamed in "chunk"-sized pieces when streaming)
 *            "reasoning_content": "text"  chat: reasoning, streamed before the content
 *            "thinking": "text"    Anthropic: a thinking block first
 *            "reasoning": "text",  responses: a reasoning item (its summary) first
 *            "fault": "after_end"} a broken stream: "after_end", one more delta after its
 *                                  end ([DONE], message_stop, response.completed);
 *                                  "bare_cr", every line ended by a CR alone; "long_line",
 *                                  a 5 MiB delta after the first; "gzip", a reply that says
 *                                  Content-Encoding: gzip (its bytes are not compressed)
 * GET /v1/models lists one model; GET /mock/stats counts requests, completed and
 * cancelled streams. */
#ifndef GW_MOCK_MOCK_H
#define GW_MOCK_MOCK_H

struct gw_mock;

/* Starts the mock on host:port (0: any free port) in a thread of its own; *port_out gets
 * the port. NULL on failure. */
struct gw_mock *gw_mock_start(const char *host, int port, int *port_out);
void gw_mock_stop(struct gw_mock *m);
/* Runs the mock on the calling thread until SIGTERM or SIGINT. Returns 0 or 1. */
int gw_mock_run(const char *host, int port);

#endif
