// Live updates for the building and room views: one Server-Sent Events stream
// (/v1/…/live) for what is on screen. Read with fetch rather than EventSource because
// EventSource cannot send the Authorization header the API token needs (a token in the URL
// would end up in proxy logs); the reader does what EventSource does: Last-Event-ID on
// reconnect, the server's `retry:` hint, and a backoff. While it is not connected the shell
// polls every 60 s as before.
import { storedToken } from "./lib.js";

const MAX_BACKOFF_MS = 60_000;

/**
 * Follow `path` until close(). handlers.event(name, data) for each event; handlers.state(s)
 * with "connecting", "live" or "polling" (the stream failed: poll until it is back).
 */
export function follow(path, handlers) {
  let stopped = false;
  let controller = null;
  let lastId = null;
  let failures = 0;

  async function connectOnce() {
    controller = new AbortController();
    const headers = { Accept: "text/event-stream" };
    const token = storedToken();
    if (token) headers.Authorization = "Bearer " + token;
    if (lastId) headers["Last-Event-ID"] = lastId;
    const res = await fetch(path, { headers, cache: "no-store", signal: controller.signal });
    if (!res.ok || !res.body) {
      const after = Number(res.headers.get("Retry-After"));
      throw Object.assign(new Error(`HTTP ${res.status}`), { retryMs: after > 0 ? after * 1000 : null });
    }
    failures = 0;
    handlers.state("live");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let retryMs = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return retryMs;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue;
          const at = line.indexOf(":");
          const field = at < 0 ? line : line.slice(0, at);
          const text = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
          if (field === "id") lastId = text;
          else if (field === "event") name = text;
          else if (field === "data") data.push(text);
          else if (field === "retry" && /^\d+$/.test(text)) retryMs = Number(text);
        }
        if (data.length) handlers.event(name, JSON.parse(data.join("\n")));
      }
    }
  }

  async function run() {
    while (!stopped) {
      handlers.state(failures ? "polling" : "connecting");
      let waitMs = 3000;
      try {
        waitMs = (await connectOnce()) ?? waitMs; // the server ended the stream: reconnect
        if (stopped) return;
        handlers.state("polling");
      } catch (err) {
        if (stopped) return;
        failures += 1;
        handlers.state("polling");
        waitMs = Math.min((err.retryMs ?? 3000) * 2 ** Math.min(failures - 1, 5), MAX_BACKOFF_MS);
      }
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }

  run();
  return {
    path,
    close() {
      stopped = true;
      controller?.abort();
    },
  };
}
