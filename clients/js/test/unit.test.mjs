// The client against a scripted server: a WebSocket stand-in whose test code
// answers the client's frames, for orderings a real server does not produce
// on demand (a room joined while a sync runs, a dead socket, retention).
import assert from "node:assert/strict";
import { test } from "node:test";
import * as UUID from "../dist/index.js";
import { TripsenseClient } from "../dist/index.js";
import { until } from "./helpers.mjs";

/**
 * A WebSocket class whose instances open at once and hand every frame the
 * client sends to onFrame(socket, frame); socket.push(frame) delivers a
 * server frame. sockets lists the instances in order; sent(pred, ms)
 * resolves once pred() holds, checked after every frame the client sends.
 */
function scriptedServer(onFrame) {
  const sockets = [];
  const waiters = new Set();
  const sent = (pred, ms = 5000) =>
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
        reject(new Error(`timed out after ${ms} ms waiting for a frame`));
      }, ms);
      waiters.add(w);
    });
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
      this.sent.push({ ...f, at: Date.now() }); // with the time it was sent

      for (const w of [...waiters]) w();
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
