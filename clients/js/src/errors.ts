import type { ErrorCode } from "./protocol.js";

/**
 * An error of the server (its stable code from docs/protocol.md, or an HTTP
 * API code) or of the client ("closed", "timeout", "network").
 */
export class TripsenseError extends Error {
  /** The server's error code (switch on it), or a client code. */
  readonly code: ErrorCode | "closed" | "timeout" | "network" | "replaced";
  /** The action of the frame it answers, when the server said. */
  readonly action?: string;
  /** The send it answers, when the server echoed its clientMsgId. */
  readonly clientMsgId?: string;
  /** rate_limited: wait this long before retrying. */
  readonly retryAfterMs?: number;
  /** HTTP status, for errors of the HTTP API. */
  readonly status?: number;

  constructor(code: TripsenseError["code"], message: string, extra: { action?: string; clientMsgId?: string; retryAfterMs?: number; status?: number } = {}) {
    super(message);
    this.name = "TripsenseError";
    this.code = code;
    if (extra.action !== undefined) this.action = extra.action;
    if (extra.clientMsgId !== undefined) this.clientMsgId = extra.clientMsgId;
    if (extra.retryAfterMs !== undefined) this.retryAfterMs = extra.retryAfterMs;
    if (extra.status !== undefined) this.status = extra.status;
  }

  /** Whether retrying the same action later can succeed. */
  get retryable(): boolean {
    return ["rate_limited", "internal", "conflict", "closed", "timeout", "network"].includes(this.code);
  }
}
