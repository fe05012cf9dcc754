// Test helpers: the real tripsense binary on 127.0.0.1, a recording
// WebSocket, and waiting on client events with a deadline.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { TripsenseClient } from "../dist/index.js";

const repo = join(dirname(fileURLToPath(import.meta.url)), "../../..");
let bin;

/** Builds the binary once per test file (go's build cache makes repeats cheap). */
export function binary() {
  if (!bin) {
    const dir = mkdtempSync(join(tmpdir(), "tripsense-sdk-bin-"));
    bin = join(dir, "tripsense");
    execFileSync("go", ["build", "-o", bin, "./cmd/tripsense"], { cwd: repo, stdio: "inherit" });
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return bin;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A running tripsense binary; the flags of test/harness_test.go lift the rate limits. */
export class Server {
  constructor(extraArgs = [], env = {}) {
    this.extraArgs = extraArgs;
    this.env = env;
    this.dataDir = mkdtempSync(join(tmpdir(), "tripsense-sdk-data-"));
    this.logs = "";
  }

  async start() {
    this.port ??= await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const args = ["serve", "--addr", `127.0.0.1:${this.port}`, "--data", this.dataDir,
      "--msg-rate", "100000", "--msg-burst", "100000", "--control-rate", "100000", "--control-burst", "100000",
      "--http-rate", "0", "--connect-rate", "0", "--max-connections-per-ip", "0", ...this.extraArgs];
    this.proc = spawn(binary(), args, { env: { ...process.env, ...this.env }, stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout.on("data", (d) => (this.logs += d));
    this.proc.stderr.on("data", (d) => (this.logs += d));
    this.exited = new Promise((resolve) => this.proc.on("exit", resolve));
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const r = await fetch(`${this.url}/healthz`);
        if (r.status === 200) return this;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error("server not healthy within 30s:\n" + this.logs);
      if (this.proc.exitCode !== null) throw new Error("server exited:\n" + this.logs);
      await new Promise((r) => setTimeout(r, 20)); // poll interval of the start, bounded by the deadline
    }
  }

  /** SIGTERM and wait (the server closes WebSockets with 1001). */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill("SIGTERM");
    await this.exited;
  }

  async cleanup() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Runs a subcommand of the binary (e.g. token). */
  tool(args, env = {}) {
    return execFileSync(binary(), args, { env: { ...process.env, ...this.env, ...env } }).toString().trim();
  }

  async http(method, path, user, body) {
    const headers = { "X-User-Id": user };
    if (body) headers["Content-Type"] = "application/json";
    const r = await fetch(this.url + path, { method, headers, body: body && JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  }

  /**
   * A room's messages in current state, as GET /v1/rooms/{room}/messages pages them: the log folded
   * into its messages (no membership, rename or lifecycle entries; docs/protocol.md, Message lifecycle).
   */
  async history(room, user) {
    const out = [];
    let after = 0;
    for (let i = 0; i < 1000; i++) {
      const { status, body } = await this.http("GET", `/v1/rooms/${room}/messages?after=${after}&limit=1000`, user);
      if (status !== 200) throw new Error(`history ${room}: ${status} ${JSON.stringify(body)}`);
      out.push(...body.messages);
      if (!body.hasMore) return out;
      after = body.next;
    }
    throw new Error("history did not end");
  }

  /**
   * A room's log as catch-up (GET /v1/sync from 0) returns it: every entry of every kind (messages,
   * edits, deletes, reactions, membership, renames) in index order, and the room's head.
   */
  async log(room, user) {
    const entries = [];
    let after = 0;
    for (let i = 0; i < 1000; i++) {
      const { status, body } = await this.http("GET", `/v1/sync?limit=1000&after=${encodeURIComponent(`${room}:${after}`)}`, user);
      if (status !== 200) throw new Error(`log ${room}: ${status} ${JSON.stringify(body)}`);
      const r = body.rooms.find((e) => e.chatroomId === room);
      if (!r || r.error) throw new Error(`log ${room}: ${JSON.stringify(r)}`);
      entries.push(...r.messages);
      if (r.complete) return { head: r.head, entries };
      after = r.next;
    }
    throw new Error("log did not end");
  }
}

/** A WebSocket class that records the frames its instances send. */
export function recordingWebSocket(sent = []) {
  return class extends WebSocket {
    send(data, ...rest) {
      sent.push(JSON.parse(data));
      return super.send(data, ...rest);
    }
  };
}

/** Every client newClient made; closeAll() closes them (a failed test leaves none reconnecting). */
const made = new Set();
export async function closeAll() {
  await Promise.all([...made].map((c) => c.close()));
  made.clear();
}

export function newClient(server, opts) {
  const c = new TripsenseClient({
    url: server.url, WebSocket, backoff: { initialMs: 20, maxMs: 300 }, gapFillMs: 300, markReadDelayMs: 100, ...opts,
  });
  made.add(c);
  return c;
}

/** Starts the clients and resolves once every one of them is online. */
export async function startOnline(...clients) {
  for (const c of clients) await c.start();
  await until(clients, () => clients.every((c) => c.state === "online"));
}

/**
 * Resolves once pred() holds, checking after every event of the clients;
 * rejects after ms with what() in the message.
 */
export function until(clients, pred, ms = 10_000, what = () => "condition") {
  return new Promise((resolve, reject) => {
    const offs = [];
    const done = (err) => {
      clearTimeout(timer);
      offs.forEach((off) => off());
      err ? reject(err) : resolve();
    };
    const check = () => {
      try {
        if (pred()) done();
      } catch (e) {
        done(e);
      }
    };
    const timer = setTimeout(() => done(new Error(`timed out after ${ms} ms waiting for ${what()}`)), ms);
    for (const c of [clients].flat()) for (const ev of ["state", "room", "roomRemoved", "ack", "event", "receipt", "member", "synced", "truncated", "error", "authed", "reset"]) offs.push(c.on(ev, check));
    check();
  });
}

/** A room's messages as the client holds them (current state), in the shape of shape(). */
export function held(client, room) {
  return (client.room(room)?.messages ?? []).map((m) => ({ index: m.index, userId: m.userId, chatMessage: m.chatMessage, clientMsgId: m.clientMsgId }));
}

/** The server's messages (Server.history) in the shape held() compares. */
export function shape(messages) {
  return messages.map((m) => ({ index: m.index, userId: m.userId, chatMessage: m.chatMessage, clientMsgId: m.clientMsgId }));
}

/** A log entry (an SDK event or an entry of Server.log) as the handler-delivery checks compare it. */
export function entryShape(e) {
  return { index: e.index, kind: e.kind ?? "message", userId: e.userId };
}
