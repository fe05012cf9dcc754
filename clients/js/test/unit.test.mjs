// The client against a scripted server: a WebSocket stand-in whose test code
// answers the client's frames, for orderings a real server does not produce
// on demand (a room joined while a sync runs, a dead socket, retention).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import * as UUID from "../dist/index.js";
import { MemoryStorage, TripsenseClient } from "../dist/index.js";
import { until } from "./helpers.mjs";

/**
 * A WebSocket class whose instances open at once and hand every frame the
 * client sends to onFrame(socket, frame); socket.push(frame) delivers a
 * server frame. sockets lists the instances in order; sent(pred, ms)
 * resolves once pred() holds, checked after every frame the client sends.
 */
/**
 * Conditions waited for with a deadline: until(pred, ms, message) resolves once pred() holds, checked
 * now and at every wake(); it fails after ms with message(), by default "timed out after ms ms waiting
 * for " + what().
 */
function conditions(what) {
  const waiters = new Set();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const until = (pred, ms = 5000, message = () => `timed out after ${ms} ms waiting for ${what()}`) =>
    new Promise((resolve, reject) => {
      if (pred()) return resolve();
      const w = () => {
        if (!pred()) return;
        clearTimeout(timer);
        waiters.delete(w);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(message()));
      }, ms);
      waiters.add(w);
    });
  return { wake, until };
}

function scriptedServer(onFrame) {
  const sockets = [];
  const { wake, until: sent } = conditions(() => "a frame");
  class ScriptedWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closed = [];
      sockets.push(this);
      queueMicrotask(() => {
        this.readyState = 1;
        this.onopen?.({});
      });
    }
    send(data) {
      const f = JSON.parse(data);
      this.sent.push({ ...f, at: Date.now(), bytes: Buffer.byteLength(data) }); // with the time it was sent and its size

      wake();
      queueMicrotask(() => onFrame(this, f));
    }
    push(f) {
      if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify(f) });
    }
    close(code, reason) {
      this.readyState = 3;
      this.closed.push([code, reason]);
    }
    serverClose(code, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
  }
  return { WebSocket: ScriptedWebSocket, sockets, sent };
}

const base = { url: "http://127.0.0.1:1", userId: "u", fetchRoomsOnConnect: false, watchNetwork: false, backoff: { initialMs: 10, maxMs: 10 } };
const msg = (room, index, text = `m${index}`) => ({ chatroomId: room, index, userId: "v", kind: "message", chatMessage: text, messageType: "text message", createTime: "2026-12-01T10:00:00.000Z" });
const syncs = (sockets) => sockets.flatMap((s) => s.sent.filter((f) => f.action === "sync"));

test("a room joined while the first sync runs is synced by another round at its syncDone", async () => {
  // The first sync's plan predates the join: it answers only "a". The join's member frame
  // arrives before its syncDone; the client must not go online without a round for "new".
  let round = 0;
  const { WebSocket, sockets } = scriptedServer((ws, f) => {
    if (f.action !== "sync") return;
    round++;
    if (round === 1) {
      ws.push({ type: "synced", chatroomId: "a", head: 0, complete: true });
      ws.push({ type: "member", chatroomId: "new", index: 3, userId: "u", event: "joined", by: "admin", createTime: "2026-12-01T10:00:00.000Z" });
      ws.push({ type: "syncDone" });
      return;
    }
    const after = f.cursors.new ?? 0;
    ws.push({ type: "messages", chatroomId: "new", messages: [msg("new", 1), msg("new", 2), { chatroomId: "new", index: 3, userId: "u", kind: "member", event: "joined", by: "admin", createTime: "2026-12-01T10:00:00.000Z" }].filter((e) => e.index > after) });
    ws.push({ type: "synced", chatroomId: "a", head: 0, complete: true });
    ws.push({ type: "synced", chatroomId: "new", head: 3, complete: true });
    ws.push({ type: "syncDone" });
  });
  // The gap fill is out of reach: only the round after syncDone can catch the room up.
  const c = new TripsenseClient({ ...base, WebSocket, gapFillMs: 600_000 });
  const members = [];
  c.on("member", (m) => members.push(m));
  await c.start();
  try {
    await until(c, () => c.room("new")?.have === 3, 5000, () => JSON.stringify([c.state, c.room("new"), syncs(sockets)]));
    assert.deepEqual(c.room("new").messages.map((m) => m.index), [1, 2]);
    assert.deepEqual(members, [{ chatroomId: "new", userId: "u", event: "joined", index: 3, by: "admin" }]);
    assert.equal(sockets.length, 1);
    assert.deepEqual(syncs(sockets).map((f) => f.cursors), [{}, { a: 0, new: 0 }]);
  } finally {
    await c.close();
  }
});

test("after close() and start() a gap is still filled (the gap timer is not left marked)", async () => {
  let head = 0;
  const { WebSocket, sockets } = scriptedServer((ws, f) => {
    if (f.action !== "sync") return;
    const have = f.cursors.r ?? 0;
    ws.push({ type: "messages", chatroomId: "r", messages: Array.from({ length: head - have }, (_, i) => msg("r", have + i + 1)) });
    ws.push({ type: "synced", chatroomId: "r", head, complete: true });
    ws.push({ type: "syncDone" });
  });
  const c = new TripsenseClient({ ...base, WebSocket, gapFillMs: 20 });
  await c.start();
  try {
    await until(c, () => c.state === "online");
    // A live entry above a missing one arms the gap fill; close() comes before it fires.
    head = 2;
    sockets[0].push({ type: "message", ...msg("r", 2) });
    await c.close();
    head = 3;
    await c.start();
    await until(c, () => c.state === "online" && c.room("r")?.have === 3, 5000, () => JSON.stringify([c.state, c.room("r")]));
    // Now a gap on the new connection: index 5 live, 4 lost.
    head = 5;
    const fills = syncs(sockets).length;
    sockets[1].push({ type: "message", ...msg("r", 5) });
    await until(c, () => c.room("r")?.have === 5, 5000, () => JSON.stringify([c.state, c.room("r"), syncs(sockets).length - fills]));
    assert.equal(sockets.length, 2);
  } finally {
    await c.close();
  }
});

test("keep-alive: a socket that stops answering pings is dropped and replaced", async () => {
  let answer = true;
  const { WebSocket, sockets, sent } = scriptedServer((ws, f) => {
    if (answer && f.action === "sync") ws.push({ type: "syncDone" });
    if (answer && f.action === "ping") ws.push({ type: "pong" });
  });
  // Pings more often than the deadline: each unanswered ping must not push the deadline back.
  // (The sync deadline is out of reach: only the pings can find a dead socket here.)
  const c = new TripsenseClient({ ...base, WebSocket, pingIntervalMs: 20, pongTimeoutMs: 60, syncTimeoutMs: 600_000 });
  const states = [];
  c.on("state", (s, d) => states.push([s, d.code, d.reason]));
  await c.start();
  try {
    await until(c, () => c.state === "online");
    // Pongs keep the first socket alive over several ping intervals.
    await sent(() => sockets[0].sent.filter((f) => f.action === "ping").length >= 4);
    assert.equal(sockets.length, 1);
    // The server goes quiet; while a ping waits for its answer the socket closes (1006): the
    // next socket, which gets no frame at all, must get a deadline of its own.
    answer = false;
    const pings = sockets[0].sent.filter((f) => f.action === "ping").length;
    await sent(() => sockets[0].sent.filter((f) => f.action === "ping").length > pings);
    sockets[0].serverClose(1006);
    // Half-open: the second socket stays open and gets nothing; the deadline replaces it.
    await until(c, () => sockets.length === 3, 5000, () => JSON.stringify(states));
    assert.deepEqual(sockets[1].closed, [[4002, "no answer to ping"]]);
    assert.ok(states.some(([s, , r]) => s === "offline" && r === "no answer to ping"), JSON.stringify(states));
  } finally {
    await c.close();
  }
});

test("a truncated room (retention) moves have to the oldest kept entry and raises truncated once", async () => {
  const { WebSocket } = scriptedServer((ws, f) => {
    if (f.action !== "sync") return;
    const have = f.cursors.r ?? 0;
    if (have < 4) {
      ws.push({ type: "messages", chatroomId: "r", messages: [msg("r", 5), msg("r", 6)] });
      ws.push({ type: "synced", chatroomId: "r", head: 6, complete: true, truncated: true, oldest: 5 });
    } else {
      ws.push({ type: "synced", chatroomId: "r", head: 6, complete: true });
    }
    ws.push({ type: "syncDone" });
  });
  const c = new TripsenseClient({ ...base, WebSocket });
  const truncated = [];
  const events = [];
  c.on("truncated", (t) => truncated.push(t));
  c.on("event", (e) => events.push(e.index));
  await c.start();
  try {
    await until(c, () => c.state === "online" && c.room("r")?.have === 6, 5000, () => JSON.stringify(c.room("r")));
    assert.deepEqual(truncated, [{ chatroomId: "r", oldest: 5 }]);
    assert.deepEqual(events, [5, 6]);
    assert.equal(c.room("r").truncatedBefore, 5);
  } finally {
    await c.close();
  }
});

test("a rate-limited sync is retried after retryAfterMs on its own connection only", async () => {
  // Socket 1: the sync is refused with rate_limited, then the socket drops before the retry is due.
  // Socket 2 syncs at once; the retry of socket 1 must not start a second sync there.
  let due;
  const { WebSocket, sockets, sent } = scriptedServer((ws, f) => {
    if (f.action === "ping") return void ws.push({ type: "pong" });
    if (f.action !== "sync") return;
    if (ws === sockets[0]) {
      due = Date.now() + 150;
      ws.push({ type: "error", code: "rate_limited", message: "slow down", action: "sync", retryAfterMs: 150 });
      queueMicrotask(() => ws.serverClose(1006));
      return;
    }
    ws.push({ type: "synced", chatroomId: "r", head: 0, complete: true });
    ws.push({ type: "syncDone" });
  });
  const c = new TripsenseClient({ ...base, WebSocket, gapFillMs: 600_000, pingIntervalMs: 20 });
  c.on("error", () => {});
  await c.start();
  try {
    await until(c, () => sockets.length === 2 && c.state === "online", 5000, () => c.state);
    // Timers fire in time order: once a ping goes out 50 ms after the retry was due, the retry ran.
    await sent(() => sockets[1].sent.some((f) => f.action === "ping" && f.at > due + 50));
    assert.equal(sockets[1].sent.filter((f) => f.action === "sync").length, 1, JSON.stringify(sockets[1].sent));
  } finally {
    await c.close();
  }
});

test("clientMsgIds are UUIDv7: unique, and in the order they were made across milliseconds", () => {
  const { uuidv7 } = UUID;
  const fill = (b) => {
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
  };
  const ids = [];
  for (let ms = 1_764_000_000_000; ms < 1_764_000_000_000 + 300; ms++) ids.push(uuidv7(ms, fill));
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual([...ids].sort(), ids, "ids of later milliseconds sort after earlier ones");
  assert.equal(new Set(ids).size, ids.length);
  // The timestamp is the first 48 bits.
  assert.equal(parseInt(ids[0].replace(/-/g, "").slice(0, 12), 16), 1_764_000_000_000);
});

/**
 * A fetch stand-in for GET /v1/sync: onRequest(req) answers each request ({ path, after, deviceId,
 * limit, at, signal }) with { status, body, headers } (body undefined: a body that is not JSON, like a
 * proxy's HTML 502; an Error: a body that broke off, json() throws it; headers: an object of response
 * headers) or a promise of one, or throws (a network error). It ignores the AbortSignal the client
 * passes (a user's fetch may), only records it. requests lists them in order; req.read is
 * set once the client read the body (json()) and req.failed once a thrown error reached it.
 * until(pred, ms) resolves once pred() holds, checked after every request, read and failure.
 */
function scriptedFetch(onRequest) {
  const requests = [];
  const { wake, until } = conditions(() => `a request (${requests.length} made)`);
  const fetch = async (input, init) => {
    const u = new URL(input);
    const req = { path: u.pathname, after: u.searchParams.get("after"), deviceId: u.searchParams.get("deviceId"), limit: u.searchParams.get("limit"), at: Date.now(), signal: init?.signal };
    requests.push(req);
    wake();
    let answer;
    try {
      answer = await onRequest(req);
    } catch (e) {
      req.failed = true;
      queueMicrotask(wake);
      throw e;
    }
    const headers = new Headers(answer.headers ?? {});
    return {
      status: answer.status,
      headers,
      json: async () => {
        req.read = true;
        queueMicrotask(wake);
        if (answer.body === undefined) throw new SyntaxError("Unexpected token '<', \"<html><bod\"... is not valid JSON");
        if (answer.body instanceof Error) throw answer.body;
        return answer.body;
      },
    };
  };
  return { fetch, requests, until };
}

/** Resolves after every microtask queued so far ran (the client's continuation of a fetch it read). */
const settled = () => new Promise((resolve) => setImmediate(resolve));

/** A promise and its resolve/reject, for a request answered later. */
function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** A room entry of a GET /v1/sync answer: entries (lastSeen, to], up to head. */
const syncRoom = (room, lastSeen, to, head) => ({
  chatroomId: room, lastSeen, head, unread: head - lastSeen, from: lastSeen + 1,
  messages: Array.from({ length: to - lastSeen }, (_, i) => msg(room, lastSeen + i + 1)), to,
  complete: to === head, ...(to !== head && { next: to }),
});

const refused = { type: "error", code: "internal", message: "internal error", action: "sync" };

test("a sync refused with internal falls back to GET /v1/sync from the client's cursors, paging, each entry delivered once and in order", async () => {
  // Socket 1 syncs over the WebSocket (r: 1-2, s: 1) and drops; socket 2's sync is refused as a whole.
  const { WebSocket, sockets } = scriptedServer((ws, f) => {
    if (f.action !== "sync") return;
    if (ws !== sockets[0]) return void ws.push(refused);
    ws.push({ type: "messages", chatroomId: "r", messages: [msg("r", 1), msg("r", 2)] });
    ws.push({ type: "messages", chatroomId: "s", messages: [msg("s", 1)] });
    ws.push({ type: "synced", chatroomId: "r", head: 2, complete: true });
    ws.push({ type: "synced", chatroomId: "s", head: 1, complete: true });
    ws.push({ type: "syncDone" });
  });
  // Two pages: r 3-4 of head 6 (complete false), then r 5-6; live 5 arrives on socket 2 before page 2.
  let between;
  const { fetch, requests } = scriptedFetch(() => {
    if (requests.length === 1) return { status: 200, body: { rooms: [syncRoom("r", 2, 4, 6), syncRoom("s", 1, 1, 1)] } };
    const r = c.room("r");
    between = { have: r.have, head: r.head, unread: r.unread, rendered: rendered.at(-1) };
    sockets[1].push({ type: "message", ...msg("r", 5) });
    return { status: 200, body: { rooms: [syncRoom("r", 4, 6, 6), syncRoom("s", 1, 1, 1)] } };
  });
  const c = new TripsenseClient({ ...base, WebSocket, fetch, deviceId: "phone", gapFillMs: 600_000 });
  const events = [];
  const errors = [];
  const rendered = [];
  let synced = 0;
  c.on("event", (e, room) => events.push([e.chatroomId, e.index, room.have]));
  c.on("room", (room) => room.chatroomId === "r" && rendered.push({ have: room.have, head: room.head, unread: room.unread }));
  c.on("error", (e) => errors.push(e));
  c.on("synced", () => synced++);
  await c.start();
  try {
    await until(c, () => synced === 1);
    assert.equal(requests.length, 0, "a WebSocket sync that works makes no HTTP request");
    sockets[0].serverClose(1006);
    await until(c, () => synced === 2, 5000, () => JSON.stringify([c.state, requests, c.room("r")]));
    assert.deepEqual(requests.map((r) => [r.path, r.after, r.deviceId, r.limit]), [
      ["/v1/sync", "r:2,s:1", "phone", "1000"],
      ["/v1/sync", "r:4,s:1", "phone", "1000"],
    ]);
    assert.deepEqual(syncs([sockets[1]]).map((f) => f.cursors), [{ r: 2, s: 1 }], "the refused sync is not sent again");
    // Between the pages the room shows the head the first page reported, like a WebSocket round's synced.
    const shown = { have: 4, head: 6, unread: 6 };
    assert.deepEqual(between, { ...shown, rendered: shown }, "the room's state after page 1 (and its last room event)");
    assert.equal(sockets.length, 2);
    assert.equal(c.state, "online");
    // Each entry once, in index order, and the room's cursor moves with each one.
    assert.deepEqual(events, [["r", 1, 1], ["r", 2, 2], ["s", 1, 1], ["r", 3, 3], ["r", 4, 4], ["r", 5, 5], ["r", 6, 6]]);
    const r = c.room("r");
    assert.deepEqual([r.have, r.head, r.lastRead, r.unread], [6, 6, 0, 6], "cursor, head and unread as after a WebSocket sync");
    assert.deepEqual(r.messages.map((m) => m.index), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([c.room("s").have, c.room("s").head], [1, 1]);
    assert.deepEqual(errors, [], "a refused sync the fallback recovers raises no error");
    // Live entries after the fallback are delivered as usual.
    sockets[1].push({ type: "message", ...msg("r", 7) });
    assert.deepEqual(events.at(-1), ["r", 7, 7]);
  } finally {
    await c.close();
  }
});

test("a rate-limited sync does not fall back to HTTP: the WebSocket sync is sent again after retryAfterMs", async () => {
  let refusedAt;
  const { WebSocket, sockets } = scriptedServer((ws, f) => {
    if (f.action !== "sync") return;
    if (syncs(sockets).length === 1) {
      refusedAt = Date.now();
      return void ws.push({ type: "error", code: "rate_limited", message: "slow down", action: "sync", retryAfterMs: 120 });
    }
    ws.push({ type: "messages", chatroomId: "r", messages: [msg("r", 1), msg("r", 2)] });
    ws.push({ type: "synced", chatroomId: "r", head: 2, complete: true });
    ws.push({ type: "syncDone" });
  });
  const { fetch, requests } = scriptedFetch(() => ({ status: 500, body: { error: { code: "internal", message: "the test's fetch must not be called" } } }));
  const c = new TripsenseClient({ ...base, WebSocket, fetch, gapFillMs: 600_000 });
  const events = [];
  c.on("event", (e) => events.push(e.index));
  c.on("error", () => {});
  await c.start();
  try {
    await until(c, () => c.state === "online", 5000, () => JSON.stringify([c.state, requests, syncs(sockets)]));
    assert.deepEqual(requests, [], "no GET /v1/sync for a rate-limited sync");
    const [first, second] = syncs(sockets);
    assert.equal(syncs(sockets).length, 2);
    assert.ok(second.at - refusedAt >= 115, `the sync was sent again ${second.at - refusedAt} ms after the refusal, before retryAfterMs (120)`);
    assert.deepEqual([first.cursors, second.cursors], [{}, {}]);
    assert.equal(sockets.length, 1);
    assert.deepEqual(events, [1, 2]);
  } finally {
    await c.close();
  }
});

test("a failed HTTP fallback (500, network error, a body that is not JSON or broke off) raises error and reconnects with growing backoff; nothing is lost", async () => {
  // The WebSocket sync is refused on every connection; GET /v1/sync fails four times, then works.
  const { WebSocket, sockets } = scriptedServer((ws, f) => {
    if (f.action === "sync") ws.push(refused);
  });
  const { fetch, requests } = scriptedFetch(() => {
    switch (requests.length) {
      case 1:
        sockets[0].push({ type: "message", ...msg("r", 3) }); // live, above the entries it missed
        return { status: 500, body: { error: { code: "internal", message: "internal error" } } };
      case 2:
        throw new TypeError("fetch failed");
      case 3:
        return { status: 502 }; // a proxy's HTML page
      case 4:
        return { status: 200, body: new TypeError("terminated") }; // the connection broke mid-body
      default:
        return { status: 200, body: { rooms: [syncRoom("r", 0, 3, 3)] } };
    }
  });
  const c = new TripsenseClient({ ...base, WebSocket, fetch, gapFillMs: 600_000, backoff: { initialMs: 10, maxMs: 40, factor: 2, jitter: 0 } });
  const events = [];
  const errors = [];
  const offline = [];
  c.on("event", (e) => events.push(e.index));
  c.on("error", (e) => errors.push({ code: e.code, status: e.status, message: e.message }));
  c.on("state", (s, d) => s === "offline" && offline.push([d.delayMs, d.reason]));
  await c.start();
  try {
    await until(c, () => c.state === "online", 5000, () => JSON.stringify([c.state, offline, errors, requests.length]));
    const failed = [10, 20, 40, 40].map((ms) => [ms, "catch-up failed"]);
    assert.deepEqual(offline, failed, "reconnect delays grow up to maxMs until a catch-up finishes");
    assert.deepEqual(errors.map((e) => [e.code, e.status]), [["internal", 500], ["network", undefined], ["internal", 502], ["network", 200]], JSON.stringify(errors));
    assert.match(errors[2].message, /HTTP 502/);
    assert.match(errors[3].message, /terminated/);
    // One WebSocket sync and one GET per connection: no loop without a delay.
    assert.equal(sockets.length, 5);
    assert.deepEqual(sockets.map((s) => syncs([s]).length), [1, 1, 1, 1, 1]);
    assert.equal(requests.length, 5);
    for (let i = 0; i < 4; i++) assert.deepEqual(sockets[i].closed, [[4002, "catch-up failed"]]);
    for (let i = 1; i < 5; i++) assert.ok(requests[i].at - requests[i - 1].at >= offline[i - 1][0] - 2, `GET ${i + 1} came ${requests[i].at - requests[i - 1].at} ms after GET ${i}`);
    // The client's own cursor: nothing delivered yet, so from 0 (the live entry 3 is held, not counted).
    assert.deepEqual(requests.map((r) => r.after), [null, "r:0", "r:0", "r:0", "r:0"]);
    assert.deepEqual(events, [1, 2, 3]);
    assert.deepEqual([c.room("r").have, c.room("r").head], [3, 3]);
    // Live entries on the new connection are delivered.
    sockets[4].push({ type: "message", ...msg("r", 4) });
    assert.deepEqual(events, [1, 2, 3, 4]);
  } finally {
    await c.close();
  }
});

test("a fallback GET /v1/sync with no answer within syncTimeoutMs drops the connection; its late answer is ignored", async () => {
  const { WebSocket, sockets } = scriptedServer((ws, f) => {
    if (f.action !== "sync") return;
    if (ws === sockets[0]) return void ws.push(refused);
    ws.push({ type: "messages", chatroomId: "r", messages: [msg("r", 1), msg("r", 2)] });
    ws.push({ type: "synced", chatroomId: "r", head: 2, complete: true });
    ws.push({ type: "syncDone", epoch: "e1" });
  });
  const hung = deferred();
  const { fetch, requests, until: requested } = scriptedFetch(() => hung.promise);
  const c = new TripsenseClient({ ...base, WebSocket, fetch, syncTimeoutMs: 100, gapFillMs: 600_000 });
  const events = [];
  const resets = [];
  c.on("event", (e) => events.push(e.index));
  c.on("reset", (r) => resets.push(r));
  c.on("error", () => {});
  await c.start();
  try {
    await until(c, () => c.state === "online", 5000, () => JSON.stringify([c.state, requests.length, sockets.map((s) => s.closed)]));
    assert.deepEqual(sockets[0].closed, [[4002, "sync timed out"]]);
    assert.equal(sockets.length, 2);
    assert.deepEqual(events, [1, 2]);
    // The hung request answers now, with another epoch and more entries: it belongs to a dropped connection.
    // Its signal was aborted with the connection; this fetch ignores signals, so it answers anyway.
    assert.equal(requests[0].signal?.aborted, true, "the request of the dropped connection was not aborted");
    hung.resolve({ status: 200, body: { epoch: "e2", rooms: [syncRoom("r", 0, 5, 5)] } });
    await hung.promise;
    await settled();
    assert.ok(!requests[0].read, "the answer of an abandoned request was read");
    assert.deepEqual(resets, []);
    assert.deepEqual(events, [1, 2]);
    assert.deepEqual([c.state, c.room("r").have, c.room("r").head, sockets.length], ["online", 2, 2, 2]);
  } finally {
    await c.close();
  }
});

test("a fallback GET /v1/sync answered after its connection was replaced does not apply over the new connection's sync", async () => {
  // Socket 1's sync is refused and its GET waits; socket 1 drops, socket 2's sync waits too.
  const { WebSocket, sockets, sent } = scriptedServer((ws, f) => {
    if (f.action === "sync" && ws === sockets[0]) ws.push(refused);
  });
  const stale = deferred();
  const { fetch, requests, until: requested } = scriptedFetch(() => stale.promise);
  const c = new TripsenseClient({ ...base, WebSocket, fetch, gapFillMs: 600_000 });
  const events = [];
  const resets = [];
  let synced = 0;
  c.on("event", (e) => events.push(e.index));
  c.on("reset", (r) => resets.push(r));
  c.on("synced", () => synced++);
  await c.start();
  try {
    await requested(() => requests.length === 1);
    sockets[0].serverClose(1006);
    await sent(() => sockets[1] && syncs([sockets[1]]).length === 1);
    const second = sockets[1];
    assert.equal(c.state, "syncing");
    // The old GET answers while the new sync runs: with a new epoch and entries up to 3.
    assert.equal(requests[0].signal?.aborted, true, "the request of the dropped connection was not aborted");
    stale.resolve({ status: 200, body: { epoch: "e2", rooms: [syncRoom("r", 0, 3, 3)] } });
    await stale.promise;
    await settled();
    assert.ok(!requests[0].read, "the answer of an abandoned request was read");
    assert.deepEqual([c.state, synced, events, resets, c.room("r")], ["syncing", 0, [], [], undefined], "the stale answer was applied");
    // The new connection's own sync decides: head 2.
    second.push({ type: "messages", chatroomId: "r", messages: [msg("r", 1), msg("r", 2)] });
    second.push({ type: "synced", chatroomId: "r", head: 2, complete: true });
    second.push({ type: "syncDone", epoch: "e1" });
    assert.deepEqual([c.state, synced, events, c.room("r").have, c.room("r").head], ["online", 1, [1, 2], 2, 2]);
    assert.equal(requests.length, 1);
  } finally {
    await c.close();
  }
});

test("a fallback GET /v1/sync that fails after its connection was replaced leaves the new connection alone", async () => {
  const { WebSocket, sockets } = scriptedServer((ws, f) => {
    if (f.action !== "sync") return;
    if (ws === sockets[0]) return void ws.push(refused);
    ws.push({ type: "synced", chatroomId: "r", head: 0, complete: true });
    ws.push({ type: "syncDone" });
  });
  const stale = deferred();
  const { fetch, requests, until: requested } = scriptedFetch(() => stale.promise);
  const c = new TripsenseClient({ ...base, WebSocket, fetch, gapFillMs: 600_000 });
  const errors = [];
  const states = [];
  c.on("error", (e) => errors.push(e.message));
  c.on("state", (s, d) => states.push([s, d.reason]));
  await c.start();
  try {
    await requested(() => requests.length === 1);
    sockets[0].serverClose(1006);
    await until(c, () => c.state === "online" && sockets.length === 2);
    stale.reject(new TypeError("fetch failed"));
    await requested(() => requests[0].failed);
    await settled();
    assert.deepEqual(sockets[1].closed, [], "the new connection was dropped");
    assert.deepEqual([c.state, sockets.length, errors], ["online", 2, []]);
    assert.ok(!states.some(([, r]) => r === "catch-up failed"), JSON.stringify(states));
  } finally {
    await c.close();
  }
});

test("a room joined while a fallback GET /v1/sync runs is fetched by another page before the client is online", async () => {
  // The first GET's answer predates the join (only "a"); the join's member frame arrives while it waits.
  const { WebSocket, sockets } = scriptedServer((ws, f) => {
    if (f.action === "sync") ws.push(refused);
  });
  const join = { chatroomId: "new", index: 3, userId: "u", event: "joined", by: "admin", createTime: "2026-12-01T10:00:00.000Z" };
  const { fetch, requests } = scriptedFetch(() => {
    if (requests.length === 1) {
      sockets[0].push({ type: "member", ...join });
      return { status: 200, body: { rooms: [syncRoom("a", 0, 0, 0)] } };
    }
    const r = syncRoom("new", 0, 3, 3);
    r.messages[2] = { ...join, kind: "member" };
    return { status: 200, body: { rooms: [syncRoom("a", 0, 0, 0), r] } };
  });
  // The gap fill is out of reach: only another page of this catch-up can fetch the room's history.
  const c = new TripsenseClient({ ...base, WebSocket, fetch, gapFillMs: 600_000 });
  const members = [];
  c.on("member", (m) => members.push(m));
  await c.start();
  try {
    await until(c, () => c.state === "online", 5000, () => JSON.stringify([c.state, requests]));
    assert.deepEqual(requests.map((r) => r.after), [null, "a:0,new:0"]);
    assert.deepEqual([c.room("new").have, c.room("new").head], [3, 3]);
    assert.deepEqual(c.room("new").messages.map((m) => m.index), [1, 2]);
    assert.deepEqual(members, [{ chatroomId: "new", userId: "u", event: "joined", index: 3, by: "admin" }]);
  } finally {
    await c.close();
  }
});

test("a fallback GET /v1/sync answered after close() changes nothing", async () => {
  const { WebSocket, sockets } = scriptedServer((ws, f) => {
    if (f.action === "sync") ws.push(refused);
  });
  const late = deferred();
  const { fetch, requests, until: requested } = scriptedFetch(() => late.promise);
  const c = new TripsenseClient({ ...base, WebSocket, fetch, gapFillMs: 600_000 });
  const events = [];
  const states = [];
  c.on("event", (e) => events.push(e.index));
  c.on("state", (s) => states.push(s));
  await c.start();
  await requested(() => requests.length === 1);
  await c.close();
  assert.equal(requests[0].signal?.aborted, true, "close() did not abort the request");
  late.resolve({ status: 200, body: { rooms: [syncRoom("r", 0, 2, 2)] } });
  await late.promise;
  await settled();
  assert.ok(!requests[0].read, "the answer of an abandoned request was read");
  assert.deepEqual([c.state, events, c.room("r"), sockets.length], ["closed", [], undefined, 1]);
  assert.equal(states.at(-1), "closed");
});

/**
 * A user's rooms as a scripted server holds them, for a client whose state knows 1,500 rooms:
 * 1,400 it is in (have 5 in each; heads 5 to 8), 100 it was removed from (stale), and 20 rooms it
 * has never seen (head 6). The device's stored delivered cursor of a room (where a sync without the
 * client's cursor starts) equals have in most rooms, lags it in some (2: entries come again) and
 * leads it in others (8, clamped to the head: this install lost what was written to it, so a room
 * left out of the cursors comes back short, and must be gap-filled from have). Room ids are idLen
 * characters. plan(cursors) is the server's catch-up plan, as sync/plan.go makes it.
 */
async function bigUser(idLen) {
  const id = (p, i) => `${p}${String(i).padStart(4, "0")}`.padEnd(idLen, "x");
  const heads = new Map(), device = new Map(), known = new Set();
  for (let i = 0; i < 1400; i++) {
    heads.set(id("r", i), 5 + (i % 4));
    device.set(id("r", i), i % 7 === 0 ? 8 : i % 11 === 0 ? 2 : 5);
  }
  for (let i = 0; i < 20; i++) {
    heads.set(id("n", i), 6);
    device.set(id("n", i), 3);
  }
  const state = { rooms: {} };
  for (let i = 0; i < 1500; i++) {
    const room = id("r", i);
    known.add(room);
    state.rooms[room] = { state: { chatroomId: room, have: 5, head: 5, lastRead: 5, unread: 0, messages: [], receipts: {} }, pending: [] };
  }
  const storage = new MemoryStorage();
  await storage.set("tripsense:state", JSON.stringify(state));
  await storage.set("tripsense:deviceId", "phone");
  const world = { heads, known, storage, stale: [...known].filter((r) => !heads.has(r)), leadServed: 0 };
  world.plan = (cursors) => {
    const rooms = [...new Set([...heads.keys(), ...Object.keys(cursors)])].sort();
    return rooms.map((room) => {
      if (!heads.has(room)) return { room, error: { code: "not_member", message: `not a member of room ${room}` } };
      const head = heads.get(room);
      const own = cursors[room];
      if (own === undefined && known.has(room) && device.get(room) > 5) world.leadServed++;
      return { room, head, lastSeen: Math.min(Math.max(own ?? device.get(room), 0), head) };
    });
  };
  /** The entries each room must deliver, once and in order: (5, head] of a known room, a new one's from start. */
  world.expected = (history) => {
    const out = {};
    for (const [room, head] of heads) {
      const from = known.has(room) ? 6 : history === "recent" ? device.get(room) + 1 : 1;
      out[room] = Array.from({ length: head - from + 1 }, (_, i) => from + i);
    }
    return out;
  };
  return world;
}

async function checkBigUser(c, world, history) {
  const got = {};
  const errors = [];
  c.on("event", (e) => (got[e.chatroomId] ??= []).push(e.index));
  c.on("error", (e) => errors.push(`${e.code}: ${e.message}`));
  await c.start();
  const want = world.expected(history);
  const short = () => [...world.heads].filter(([room, head]) => c.room(room)?.have !== head);
  const done = () => c.state === "online" && short().length === 0 && world.stale.every((r) => !c.room(r));
  await until(c, done, 8000, () => JSON.stringify([c.state, errors.slice(0, 3), short().length, world.stale.filter((r) => c.room(r)).length]));
  for (const room of Object.keys(want)) if (want[room].length === 0) delete want[room];
  assert.deepEqual(got, want, "every entry of every room once, in order");
  assert.deepEqual(errors, []);
  assert.ok(world.leadServed > 0, "no room left out of the cursors started beyond have: the test did not test the gap");
  assert.equal(c.roomList().length, world.heads.size, "stale rooms were dropped, the others kept");
}

for (const [name, idLen] of [["1,000 cursors", 5], ["32 KiB", 60]]) {
  for (const history of ["all", "recent"]) {
    test(`a client that knows 1,500 rooms syncs over the WebSocket within the server's limits (${name}, history ${history}), skipping nothing`, async () => {
      const world = await bigUser(idLen);
      const { WebSocket, sockets } = scriptedServer((ws, f) => {
        if (f.action !== "sync") return;
        const bytes = ws.sent.at(-1).bytes;
        if (bytes > 32768) return void ws.push({ type: "error", code: "too_large", message: "frame is over 32768 bytes" });
        const cursors = f.cursors ?? {};
        if (Object.keys(cursors).length > 1000) return void ws.push({ type: "error", code: "bad_request", message: "at most 1000 cursors", action: "sync" });
        for (const p of world.plan(cursors)) {
          if (p.error) {
            ws.push({ type: "synced", chatroomId: p.room, error: p.error });
            continue;
          }
          if (p.head > p.lastSeen) ws.push({ type: "messages", chatroomId: p.room, messages: Array.from({ length: p.head - p.lastSeen }, (_, i) => msg(p.room, p.lastSeen + i + 1)) });
          ws.push({ type: "synced", chatroomId: p.room, head: p.head, complete: true });
        }
        ws.push({ type: "syncDone" });
      });
      const c = new TripsenseClient({ ...base, WebSocket, storage: world.storage, history, gapFillMs: 20 });
      try {
        await checkBigUser(c, world, history);
        const frames = syncs(sockets);
        assert.equal(sockets.length, 1, "the connection was dropped");
        assert.ok(frames.length >= 2 && frames.length <= 4, `${frames.length} sync rounds`);
        for (const f of frames) {
          assert.ok(Object.keys(f.cursors).length <= 1000, `${Object.keys(f.cursors).length} cursors`);
          assert.ok(f.bytes <= 30_000, `a sync frame of ${f.bytes} bytes`);
        }
      } finally {
        await c.close();
      }
    });
  }
}

test("a client that knows 1,500 rooms catches up over GET /v1/sync within the URL bound, skipping nothing", async () => {
  const world = await bigUser(36);
  const { WebSocket } = scriptedServer(() => {});
  const lengths = [];
  const { fetch } = scriptedFetch((req) => {
    const after = {};
    for (const e of req.after ? req.after.split(",") : []) after[e.slice(0, e.lastIndexOf(":"))] = Number(e.slice(e.lastIndexOf(":") + 1));
    lengths.push(encodeURIComponent(req.after ?? "").length);
    if (Object.keys(after).length > 1000) return { status: 400, body: { error: { code: "bad_request", message: "after: at most 1000 room:index entries" } } };
    const rooms = world.plan(after).map((p) => (p.error ? { chatroomId: p.room, error: p.error } : syncRoom(p.room, p.lastSeen, p.head, p.head)));
    return { status: 200, body: { rooms } };
  });
  const c = new TripsenseClient({ ...base, WebSocket, fetch, catchup: "http", storage: world.storage, gapFillMs: 20 });
  try {
    await checkBigUser(c, world, "all");
    assert.ok(lengths.length >= 2 && lengths.length <= 6, `${lengths.length} pages`);
    assert.ok(Math.max(...lengths) <= 6000, `an after= of ${Math.max(...lengths)} bytes`);
  } finally {
    await c.close();
  }
});

test("a GET /v1/sync answered 429 waits what the server said before the next try: Retry-After in seconds or as a date, the body's retryAfterMs, at most maxRetryAfterMs", async () => {
  const { WebSocket, sockets } = scriptedServer(() => {});
  const date = new Date(Date.now() + 2000).toUTCString(); // whole seconds: 1-2 s from now
  const answered = [];
  const { fetch, requests } = scriptedFetch(() => {
    answered.push(Date.now());
    switch (requests.length) {
      case 1:
        return { status: 429, headers: { "Retry-After": "1" }, body: { error: { code: "rate_limited", message: "too many requests" } } };
      case 2:
        return { status: 429, headers: { "Retry-After": date }, body: { error: { code: "rate_limited", message: "too many requests" } } };
      case 3:
        return { status: 429, body: { error: { code: "rate_limited", message: "slow down", retryAfterMs: 300 } } };
      case 4:
        return { status: 429, headers: { "Retry-After": "3600" }, body: { message: "Too Many Requests" } }; // API Gateway's throttle
      default:
        return { status: 200, body: { rooms: [syncRoom("r", 0, 1, 1)] } };
    }
  });
  const c = new TripsenseClient({ ...base, WebSocket, fetch, catchup: "http", maxRetryAfterMs: 1200, backoff: { initialMs: 10, maxMs: 10, jitter: 0 } });
  const errors = [];
  c.on("error", (e) => errors.push([e.code, e.status, e.retryAfterMs]));
  await c.start();
  try {
    await until(c, () => c.state === "online", 8000, () => JSON.stringify([c.state, requests.map((r) => r.at - requests[0].at)]));
    const waited = requests.slice(1).map((r, i) => r.at - answered[i]);
    assert.ok(waited[0] >= 1000, `Retry-After: 1 waited ${waited[0]} ms`);
    assert.ok(requests[2].at >= Math.min(Date.parse(date), answered[1] + 1200), `Retry-After: ${date} was not waited for`);
    assert.ok(waited[2] >= 300 && waited[2] < 1000, `retryAfterMs 300 waited ${waited[2]} ms`);
    assert.ok(waited[3] >= 1200 && waited[3] < 3000, `Retry-After: 3600 capped at 1200 waited ${waited[3]} ms`);
    assert.equal(errors.length, 4);
    assert.deepEqual(errors.map(([code, status]) => [code, status]), Array(4).fill(["rate_limited", 429]));
    assert.equal(errors[0][2], 1000);
    assert.equal(errors[3][2], 1200);
    assert.equal(sockets.length, 5, "each failed catch-up drops the connection");
    assert.equal(c.room("r").have, 1);
  } finally {
    await c.close();
  }
});

test("GET /v1/rooms and receipts answered 429 are asked again after the server's wait, on the same connection", async () => {
  const { WebSocket, sockets } = scriptedServer((ws, f) => {
    if (f.action !== "sync") return;
    ws.push({ type: "synced", chatroomId: "r", head: 0, complete: true });
    ws.push({ type: "syncDone" });
  });
  const answered = [];
  const { fetch, requests, until: requested } = scriptedFetch((req) => {
    answered.push(Date.now());
    const n = requests.filter((r) => r.path === req.path).length;
    if (req.path === "/v1/rooms") {
      if (n === 1) return { status: 429, headers: { "Retry-After": "1" }, body: { error: { code: "rate_limited", message: "too many requests" } } };
      return { status: 200, body: { rooms: [{ chatroomId: "r", head: 0, lastRead: 0 }] } };
    }
    if (n === 1) return { status: 429, body: { error: { code: "rate_limited", message: "too many requests", retryAfterMs: 200 } } };
    return { status: 200, body: { receipts: [{ userId: "v", lastRead: 0 }, { userId: "w", lastRead: 0 }] } };
  });
  const c = new TripsenseClient({ ...base, WebSocket, fetch, fetchRoomsOnConnect: true, backoff: { initialMs: 10, maxMs: 10, jitter: 0 } });
  const errors = [];
  c.on("error", (e) => errors.push(e));
  await c.start();
  try {
    await requested(() => requests.length === 4 && requests[3].read, 5000);
    await settled();
    assert.deepEqual(requests.map((r) => r.path), ["/v1/rooms", "/v1/rooms", "/v1/rooms/r/receipts", "/v1/rooms/r/receipts"]);
    assert.ok(requests[1].at - answered[0] >= 1000, `GET /v1/rooms asked again after ${requests[1].at - answered[0]} ms`);
    assert.ok(requests[3].at - answered[2] >= 200, `receipts asked again after ${requests[3].at - answered[2]} ms`);
    assert.deepEqual(c.room("r").receipts, { v: 0, w: 0 });
    assert.deepEqual(errors, []);
    assert.deepEqual([c.state, sockets.length], ["online", 1]);
  } finally {
    await c.close();
  }
});

test("a GET /v1/rooms with no answer is aborted after httpTimeoutMs (also when fetch ignores the signal); close() aborts the next one", async () => {
  const { WebSocket, sockets } = scriptedServer((ws, f) => {
    if (f.action !== "sync") return;
    ws.push({ type: "synced", chatroomId: "r", head: 0, complete: true });
    ws.push({ type: "syncDone" });
  });
  const { fetch, requests, until: requested } = scriptedFetch(() => new Promise(() => {})); // never answers
  const c = new TripsenseClient({ ...base, WebSocket, fetch, fetchRoomsOnConnect: true, httpTimeoutMs: 100 });
  const errors = [];
  c.on("error", (e) => errors.push(e));
  // The deadline is armed just before fetch is called, so requests[0].at may already be a millisecond
  // past its start: only a time taken before start() is sure to precede it.
  const started = Date.now();
  await c.start();
  try {
    await until(c, () => errors.length === 1, 5000, () => JSON.stringify([c.state, requests.length]));
    assert.equal(errors[0].code, "timeout");
    assert.match(errors[0].message, /\/v1\/rooms: no answer within 100 ms/);
    assert.ok(Date.now() - started >= 100, `aborted ${Date.now() - started} ms after start(), before httpTimeoutMs (100 ms)`);
    assert.equal(requests[0].signal?.aborted, true, "the request was not aborted");
    assert.equal(c.state, "online", "a failed GET /v1/rooms does not drop the connection");
    // The next connection's GET /v1/rooms hangs too: close() aborts it, and raises no error.
    sockets[0].serverClose(1006);
    await requested(() => requests.length === 2);
    await c.close();
    assert.equal(requests[1].signal?.aborted, true, "close() did not abort the request");
    await settled();
    assert.equal(errors.length, 1);
  } finally {
    await c.close();
  }
});

test("the platform's fetch is really cancelled: a hung GET /v1/sync is aborted at syncTimeoutMs, a hung GET /v1/rooms at close()", async () => {
  // A 127.0.0.1 HTTP server that never answers: the client's abort closes the request's socket.
  const seen = []; // [event, path]: "request" when one arrives, "closed" when its socket closes
  const events = conditions(() => "an event");
  const note = (ev, path) => {
    seen.push([ev, path]);
    events.wake();
  };
  const happened = (ev, path, what) =>
    events.until(() => seen.some(([e, p]) => e === ev && p === path), 5000, () => `${what} (seen: ${JSON.stringify(seen)})`);
  const srv = createServer((req) => {
    const path = new URL(req.url, "http://x").pathname;
    note("request", path);
    req.socket.on("close", () => note("closed", path));
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${srv.address().port}`;
  let round = 0;
  const { WebSocket } = scriptedServer((ws, f) => {
    if (f.action !== "sync") return;
    if (++round === 1) return void ws.push(refused); // the first connection falls back to GET /v1/sync
    ws.push({ type: "synced", chatroomId: "r", head: 0, complete: true });
    ws.push({ type: "syncDone" });
  });
  const c = new TripsenseClient({ ...base, url, WebSocket, syncTimeoutMs: 150, fetchRoomsOnConnect: true });
  c.on("error", () => {});
  try {
    // The client arms the deadline before it sends the request, and the server sees the request some time
    // after that (later still on a loaded machine): only a time taken before start() is sure to precede it.
    const started = Date.now();
    await c.start();
    await happened("request", "/v1/sync", "no GET /v1/sync");
    await happened("closed", "/v1/sync", "the hung GET /v1/sync was not aborted");
    assert.ok(Date.now() - started >= 150, `aborted ${Date.now() - started} ms after start(), before syncTimeoutMs (150 ms)`);
    await happened("request", "/v1/rooms", "no GET /v1/rooms after the reconnect's catch-up");
    assert.equal(c.state, "online");
    await c.close();
    await happened("closed", "/v1/rooms", "close() did not abort the hung GET /v1/rooms");
  } finally {
    await c.close();
    srv.closeAllConnections();
    await new Promise((resolve) => srv.close(resolve));
  }
});
