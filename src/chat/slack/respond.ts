import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Logger } from "pino";
import type { SlackMessage } from "./block-kit.ts";
import { errorMessage } from "../../errors.ts";

export interface ResponseMessage extends SlackMessage {
  response_type: "ephemeral" | "in_channel";
  replace_original: boolean;
}

/** Posts to a request's response_url; resolves false when it could not (logged, never thrown). */
export type Respond = (message: ResponseMessage) => Promise<boolean>;

// Our own rather than Bolt's respond() (axios, no timeout: a response_url that hangs would hold the
// delivery and a graceful stop forever), and on node:http rather than fetch: a burst of answers
// allocates far less, so less survives into the old generation to be collected in a long pause.
// A response_url works 5 times in 30 minutes, so only short-lived answers go through it.
const agents = { "http:": new HttpAgent({ keepAlive: true }), "https:": new HttpsAgent({ keepAlive: true }) };

export function createRespond(url: string | undefined, log: Logger, timeoutMs = 5_000): Respond {
  return async (message) => {
    if (!url) return false;
    try {
      const status = await post(new URL(url), JSON.stringify(message), timeoutMs);
      if (status >= 200 && status < 300) return true;
      log.warn({ method: "response_url", status }, "could not answer through response_url");
    } catch (e) {
      log.warn({ method: "response_url", error: errorMessage(e) }, "could not answer through response_url");
    }
    return false;
  };
}

function post(url: URL, body: string, timeoutMs: number): Promise<number> {
  if (url.protocol !== "https:" && url.protocol !== "http:") return Promise.reject(new Error(`response_url is not http(s): ${url.protocol}`));
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const headers = { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) };
    const req = send(url, { method: "POST", headers, agent: agents[url.protocol as keyof typeof agents] }, (res: IncomingMessage) => {
      res.resume(); // the answer is "ok" or an error word; its status says enough
      res.once("end", () => resolve(res.statusCode ?? 0));
      res.once("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.once("error", reject);
    req.end(body);
  });
}
