// The SDK against the real binary: delivery, the outbox, close codes,
// pacing, read state and catch-up paths.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { WebSocket } from "ws";
import { MemoryStorage, TripsenseError } from "../dist/index.js";
import { FileStorage } from "../dist/node.js";
import { Server, closeAll, held, newClient, recordingWebSocket, shape, startOnline, until } from "./helpers.mjs";

async function withServer(args, f, env) {
  const s = await new Server(args, env).start();
  try {
    await f(s);
  } finally {
    await closeAll();
    await s.cleanup();
  }
}

test("live delivery, own messages by ack, retries stored once", () =>
  withServer([], async (s) => {
    const a = newClient(s, { userId: "uuid1" });
    const b = newClient(s, { userId: "uuid2" });
    const got = [];
    b.on("event", (e) => got.push(e.index));
    await a.start();
    await b.start();
    await until([a, b], () => a.state === "online" && b.state === "online");
    const ack1 = await a.send("uuidroom2", "hello", { clientMsgId: "m-1" });
    assert.equal(ack1.index, 1);
    assert.equal(ack1.duplicate, false);
    const again = await a.send("uuidroom2", "hello", { clientMsgId: "m-1" });
    assert.equal(again.index, 1);
    assert.equal(again.duplicate, true);
    const second = await a.send("uuidroom2", "second");
    assert.match(second.clientMsgId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "the SDK's own clientMsgId is a UUIDv7");
    await until(b, () => b.room("uuidroom2")?.have === 2, 5000, () => JSON.stringify(b.room("uuidroom2")));
    assert.deepEqual(got, [1, 2]);
    assert.deepEqual(held(a, "uuidroom2"), held(b, "uuidroom2"));
    assert.deepEqual(held(b, "uuidroom2"), shape(await s.history("uuidroom2", "uuid1")));
    assert.equal(b.room("uuidroom2").unread, 2);
    await a.close();
    await b.close();
  }));

test("bad sends reject with the server's code and leave the outbox", () =>
  withServer([], async (s) => {
    const a = newClient(s, { userId: "uuid1" });
    await a.start();
    await assert.rejects(a.send("uuidroom3", "not mine"), (e) => e instanceof TripsenseError && e.code === "not_member" && e.action === "sendMessage");
    await assert.rejects(a.send("uuidroom2", ""), (e) => e.code === "bad_request");
    await assert.rejects(a.send("uuidroom2", "x".repeat(16385)), (e) => e.code === "too_large");
    assert.equal(a.pending().length, 0);
    await a.close();
  }));

test("offline sends persist in a file and are flushed in order by the next run, exactly once", () =>
  withServer([], async (s) => {
    const dir = mkdtempSync(join(tmpdir(), "tripsense-sdk-store-"));
    try {
      const path = join(dir, "state.json");
      const off = newClient({ url: "http://127.0.0.1:1" }, { userId: "uuid1", storage: new FileStorage(path) });
      for (let i = 1; i <= 5; i++) void off.send("uuidroom2", `offline ${i}`, { clientMsgId: `o-${i}` });
      await off.start(); // port 1: refused, stays offline
      await until(off, () => off.pending().length === 5 && off.state === "offline");
      await off.close();

      const a = newClient(s, { userId: "uuid1", storage: new FileStorage(path) });
      await a.start();
      assert.equal(a.pending().length, 5);
      await Promise.all([1, 2, 3, 4, 5].map((i) => a.ackOf(`o-${i}`)));
      await a.close();
      const log = await s.history("uuidroom2", "uuid1");
      assert.deepEqual(log.map((m) => m.chatMessage), [1, 2, 3, 4, 5].map((i) => `offline ${i}`));

      // A third run from the same file holds the messages and sends nothing again.
      const sent = [];
      const c = newClient(s, { userId: "uuid1", storage: new FileStorage(path), WebSocket: recordingWebSocket(sent) });
      await c.start();
      await until(c, () => c.state === "online");
      assert.equal(c.room("uuidroom2").have, 5);
      assert.equal(sent.filter((f) => f.action === "sendMessage").length, 0);
      assert.deepEqual(sent.find((f) => f.action === "sync").cursors.uuidroom2, 5);
      await c.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }));

test("close 4000 (replaced) stops reconnecting", () =>
  withServer([], async (s) => {
    // 4000 replaces a connection of the same user and device: two copies of one install.
    const a = newClient(s, { userId: "uuid1", deviceId: "phone" });
    const codes = [];
    a.on("state", (st, d) => codes.push([st, d.code]));
    await a.start();
    await until(a, () => a.state === "online");
    const b = newClient(s, { userId: "uuid1", deviceId: "phone" });
    await b.start();
    await until([a, b], () => a.state === "replaced" && b.state === "online");
    assert.ok(codes.some(([st, code]) => st === "replaced" && code === 4000), JSON.stringify(codes));
    for (let i = 0; i < 5; i++) await b.send("uuidroom1", `b ${i}`); // round trips, longer than a's backoff
    const after = codes.slice(codes.findIndex(([st]) => st === "replaced"));
    assert.deepEqual(after.map(([st]) => st), ["replaced"], "a reconnected after 4000");
    // The user's action takes it back: start() connects again, and the other copy is replaced in turn.
    await a.start();
    await until([a, b], () => a.state === "online" && b.state === "replaced", 5000, () => JSON.stringify([a.state, b.state]));
    await b.close();
    await a.close();
  }));

test("close 1001 (shutdown): reconnects with backoff and catches up", () =>
  withServer([], async (s) => {
    const a = newClient(s, { userId: "uuid1" });
    const states = [];
    a.on("state", (st, d) => states.push([st, d.code ?? null]));
    await a.start();
    await until(a, () => a.state === "online");
    await s.stop();
    await until(a, () => states.some(([st, c]) => st === "offline" && c === 1001), 5000, () => JSON.stringify(states));
    await s.start(); // same port and data
    const b = newClient(s, { userId: "uuid2" });
    await b.start();
    await b.send("uuidroom2", "while you were away");
    await until(a, () => a.state === "online" && a.room("uuidroom2")?.have === 1, 10_000, () => JSON.stringify(states));
    assert.equal(a.room("uuidroom2").messages[0].chatMessage, "while you were away");
    await a.close();
    await b.close();
  }));

const secret = "0123456789abcdef0123456789abcdef-sdk-test";

test("close 4003 (token expired): the token provider is asked for a fresh token and the client reconnects", () =>
  withServer(["--auth", "token"], async (s) => {
    const calls = [];
    const a = newClient(s, {
      tokenTransport: "query",
      proactiveRefresh: false, // wait for the server's 4003
      token: ({ forceRefresh }) => {
        calls.push(forceRefresh);
        return s.tool(["token", "--user", "uuid1", "--ttl", calls.length === 1 ? "2s" : "1h"]);
      },
    });
    const states = [];
    a.on("state", (st, d) => states.push([st, d.code ?? null]));
    await a.start();
    await until(a, () => states.some(([, c]) => c === 4003) && a.state === "online", 10_000, () => JSON.stringify(states));
    assert.deepEqual(calls, [false, true]);
    assert.equal(a.userId, "uuid1");
    const ack = await a.send("uuidroom1", "after refresh");
    assert.equal(ack.index, 1);
    await a.close();
  }, { TRIPSENSE_TOKEN_SECRET: secret }));

test("token refreshed before exp: no 4003 is ever seen", () =>
  withServer(["--auth", "token"], async (s) => {
    const calls = [];
    const a = newClient(s, {
      tokenTransport: "query",
      refreshBeforeExpMs: 2000,
      token: ({ forceRefresh }) => {
        calls.push(forceRefresh);
        return s.tool(["token", "--user", "uuid1", "--ttl", calls.length === 1 ? "3s" : "1h"]);
      },
    });
    const codes = [];
    a.on("state", (_st, d) => d.code && codes.push(d.code));
    await a.start();
    await until(a, () => calls.length === 2 && a.state === "online", 10_000, () => JSON.stringify(calls));
    assert.deepEqual(calls, [false, true]);
    assert.deepEqual(codes.filter((c) => c === 4003), []);
    await a.close();
  }, { TRIPSENSE_TOKEN_SECRET: secret }));

test("sends are paced by retryAfterMs and stored once, in order", () =>
  withServer(["--msg-rate", "20", "--msg-burst", "3"], async (s) => {
    const sent = [];
    const a = newClient(s, { userId: "uuid1", WebSocket: recordingWebSocket(sent) });
    let limited = 0;
    const errors = [];
    a.on("error", (e) => errors.push(e));
    await a.start();
    const origOnError = a.onError.bind(a);
    a.onError = (f) => {
      if (f.code === "rate_limited") limited++;
      return origOnError(f);
    };
    const acks = await Promise.all(Array.from({ length: 12 }, (_, i) => a.send("uuidroom1", `paced ${i}`)));
    assert.deepEqual(acks.map((x) => x.index), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const log = await s.history("uuidroom1", "uuid1");
    assert.deepEqual(log.map((m) => m.chatMessage), Array.from({ length: 12 }, (_, i) => `paced ${i}`));
    assert.ok(limited >= 1, "the server never rate-limited: the test does not test pacing");
    const sends = sent.filter((f) => f.action === "sendMessage").length;
    assert.ok(sends <= 12 + limited, `${sends} sendMessage frames for 12 messages and ${limited} refusals: not paced`);
    assert.deepEqual(errors, []);
    await a.close();
  }));

test("markRead is debounced into one frame; unread and receipts follow", () =>
  withServer([], async (s) => {
    const sent = [];
    const a = newClient(s, { userId: "uuid1" });
    const b = newClient(s, { userId: "uuid2", WebSocket: recordingWebSocket(sent) });
    await a.start();
    await b.start();
    for (let i = 1; i <= 4; i++) await a.send("uuidroom2", `m${i}`);
    await until(b, () => b.room("uuidroom2")?.have === 4);
    assert.equal(b.room("uuidroom2").unread, 4);
    for (let i = 1; i <= 4; i++) b.markRead("uuidroom2", i);
    assert.equal(b.room("uuidroom2").unread, 0); // applied locally at once
    await until(a, () => a.room("uuidroom2")?.receipts.uuid2 === 4, 5000, () => JSON.stringify(a.room("uuidroom2").receipts));
    assert.deepEqual(sent.filter((f) => f.action === "markRead"), [{ action: "markRead", chatroomId: "uuidroom2", index: 4 }]);
    const { body } = await s.http("GET", "/v1/rooms", "uuid2");
    assert.equal(body.rooms.find((r) => r.chatroomId === "uuidroom2").unread, 0);
    // A new client of uuid2 learns lastRead from the server.
    const b2 = newClient(s, { userId: "uuid2" });
    await b.close();
    await b2.start();
    await until(b2, () => b2.room("uuidroom2")?.lastRead === 4 && b2.room("uuidroom2")?.have === 4 && b2.room("uuidroom2")?.receipts.uuid2 === 4);
    assert.equal(b2.room("uuidroom2").unread, 0);
    assert.equal(b2.room("uuidroom2").receipts.uuid2, 4);
    await a.close();
    await b2.close();
  }));

test("HTTP catch-up pages until complete; no WebSocket sync is sent", () =>
  withServer([], async (s) => {
    const a = newClient(s, { userId: "uuid1", outboxWindow: 64 });
    await a.start();
    const n = 1200; // more than one page of 1000
    await Promise.all(Array.from({ length: n }, (_, i) => a.send("uuidroom2", `bulk ${i}`)));
    const sent = [];
    const b = newClient(s, { userId: "uuid2", catchup: "http", WebSocket: recordingWebSocket(sent) });
    await b.start();
    await until(b, () => b.state === "online", 20_000);
    assert.equal(b.room("uuidroom2").have, n);
    assert.deepEqual(held(b, "uuidroom2"), shape(await s.history("uuidroom2", "uuid1")));
    assert.equal(sent.filter((f) => f.action === "sync").length, 0);
    await a.close();
    await b.close();
  }));

test("a WebSocket sync the server refuses falls back to HTTP catch-up, which completes it", () =>
  withServer([], async (s) => {
    const a = newClient(s, { userId: "uuid1", outboxWindow: 64 });
    await a.start();
    const n = 40;
    await Promise.all(Array.from({ length: n }, (_, i) => a.send("uuidroom2", `missed ${i}`)));
    // b's sync frames are spoiled on the way out (cursors that are not an object), so the server
    // refuses each whole sync with an error frame; its other frames go out as they are.
    const sent = [], gets = [], errors = [];
    const Spoiling = class extends WebSocket {
      send(data, ...rest) {
        const f = JSON.parse(data);
        sent.push(f);
        return super.send(f.action === "sync" ? JSON.stringify({ ...f, cursors: "spoiled" }) : data, ...rest);
      }
    };
    const spy = (url, init) => {
      gets.push(new URL(url).pathname);
      return fetch(url, init);
    };
    const b = newClient(s, { userId: "uuid2", WebSocket: Spoiling, fetch: spy });
    b.on("error", (e) => errors.push(e));
    await b.start();
    await until(b, () => b.state === "online" && b.room("uuidroom2")?.have === n, 20_000, () => `have ${b.room("uuidroom2")?.have}, state ${b.state}`);
    assert.deepEqual(held(b, "uuidroom2"), shape(await s.history("uuidroom2", "uuid1")));
    assert.equal(sent.filter((f) => f.action === "sync").length, 1, "one WebSocket sync, refused, then no other");
    assert.ok(gets.includes("/v1/sync"), `GET /v1/sync after the refusal (requests: ${gets})`);
    assert.deepEqual(errors, [], "the fallback is silent: the app sees no error");
    // Live delivery goes on over the WebSocket after the HTTP catch-up.
    const ack = await a.send("uuidroom2", "after the fallback");
    await until(b, () => b.room("uuidroom2")?.have === ack.index, 10_000, () => `have ${b.room("uuidroom2")?.have}, want ${ack.index}`);
    await a.close();
    await b.close();
  }));

test("membership: a room joined while online is caught up, a room left is dropped", () =>
  withServer([], async (s) => {
    const b = newClient(s, { userId: "uuid2" });
    await b.start();
    await b.send("uuidroom3", "before uuid1 joined");
    const a = newClient(s, { userId: "uuid1" });
    const members = [];
    a.on("member", (m) => members.push(m));
    await a.start();
    await until(a, () => a.state === "online");
    assert.equal(a.room("uuidroom3"), undefined);
    assert.equal((await s.http("POST", "/v1/rooms/uuidroom3/members", "admin", { userId: "uuid1" })).status, 200);
    // The join is the room's second entry: the room is caught up to it, the message before it included.
    const { head, entries } = await s.log("uuidroom3", "uuid2");
    assert.deepEqual(entries.map((e) => [e.index, e.kind]), [[1, "message"], [2, "member"]]);
    await until(a, () => a.room("uuidroom3")?.have === head, 5000, () => JSON.stringify(a.room("uuidroom3")));
    assert.equal(a.room("uuidroom3").messages[0].chatMessage, "before uuid1 joined");
    assert.equal((await s.http("DELETE", "/v1/rooms/uuidroom3/members/uuid1", "admin")).status, 200);
    await until(a, () => a.room("uuidroom3") === undefined, 5000);
    assert.deepEqual(members.map((m) => [m.event, m.index]), [["joined", 2], ["left", 3]]);
    await a.close();
    await b.close();
  }));

test("membership entries reach the member handler once and in index order, live and from catch-up", () =>
  withServer([], async (s) => {
    const a = newClient(s, { userId: "uuid1" }); // online throughout
    const storage = new MemoryStorage(); // uuid2's app: closed while uuid3 joins and leaves, then run again
    let b = newClient(s, { userId: "uuid2", storage });
    const seen = { a: [], b: [] };
    const track = (k, c) => {
      c.on("event", (e) => e.chatroomId === "uuidroom2" && seen[k].push(["event", e.index, e.kind ?? "message"]));
      c.on("member", (m) => m.chatroomId === "uuidroom2" && seen[k].push(["member", m.index, m.userId, m.event, m.by]));
    };
    track("a", a);
    track("b", b);
    await a.start();
    await b.start();
    await until([a, b], () => a.state === "online" && b.state === "online");
    await a.send("uuidroom2", "one");
    await until(b, () => b.room("uuidroom2")?.have === 1);
    await b.close();
    assert.equal((await s.http("POST", "/v1/rooms/uuidroom2/members", "admin", { userId: "uuid3" })).status, 200);
    await a.send("uuidroom2", "two");
    assert.equal((await s.http("DELETE", "/v1/rooms/uuidroom2/members/uuid3", "admin")).status, 200);
    const { head } = await s.log("uuidroom2", "uuid1");
    assert.equal(head, 4);
    await until(a, () => a.room("uuidroom2")?.have === head, 5000, () => JSON.stringify([seen.a, a.room("uuidroom2"), a.state]));
    b = newClient(s, { userId: "uuid2", storage });
    track("b", b);
    await b.start();
    await until(b, () => b.state === "online" && b.room("uuidroom2")?.have === head, 5000, () => JSON.stringify([seen.b, b.room("uuidroom2"), b.state]));
    const want = [
      ["event", 1, "message"],
      ["event", 2, "member"], ["member", 2, "uuid3", "joined", "admin"],
      ["event", 3, "message"],
      ["event", 4, "member"], ["member", 4, "uuid3", "left", "admin"],
    ];
    assert.deepEqual(seen.a, want, "live");
    assert.deepEqual(seen.b, want, "catch-up");
    await a.close();
    await b.close();
  }));

test("a room handed to another member: the owner entry reaches the member handler and the room state, live and from catch-up", () =>
  withServer([], async (s) => {
    const a = newClient(s, { userId: "uuid1" });
    const seen = [];
    a.on("member", (m) => m.chatroomId === "crew" && seen.push([m.event, m.userId, m.by]));
    await a.start();
    await until(a, () => a.state === "online");
    let res = await s.http("POST", "/v1/rooms", "uuid1", { chatroomId: "crew", name: "Crew", members: ["uuid2"] });
    assert.equal(res.status, 201);
    assert.equal(res.body.owner, "uuid1");
    res = await s.http("PATCH", "/v1/rooms/crew", "uuid1", { owner: "uuid2" });
    assert.equal(res.status, 200);
    assert.deepEqual([res.body.owner, res.body.createdBy], ["uuid2", "uuid1"]);
    await until(a, () => a.room("crew")?.owner === "uuid2", 10_000, () => JSON.stringify([seen, a.room("crew")]));
    assert.deepEqual(seen, [["joined", "uuid1", "uuid1"], ["joined", "uuid2", "uuid1"], ["owner", "uuid2", "uuid1"]]);
    // The old owner manages the room no more; the new one does.
    assert.equal((await s.http("PATCH", "/v1/rooms/crew", "uuid1", { name: "mine" })).status, 403);
    assert.equal((await s.http("PATCH", "/v1/rooms/crew", "uuid2", { name: "Crew 2" })).status, 200);
    // A client that was never online catches the room up with its owner.
    const b = newClient(s, { userId: "uuid2" });
    const seenB = [];
    b.on("member", (m) => m.chatroomId === "crew" && seenB.push(m.event));
    await b.start();
    await until(b, () => b.state === "online" && b.room("crew")?.name === "Crew 2", 10_000, () => JSON.stringify(b.room("crew")));
    assert.equal(b.room("crew").owner, "uuid2");
    assert.deepEqual(seenB, ["joined", "joined", "owner"]);
    await a.close();
    await b.close();
  }));

test("rooms through the SDK: create, hand on, add, remove; a refusal rejects with the server's code and changes nothing", () =>
  withServer([], async (s) => {
    const a = newClient(s, { userId: "uuid1" });
    const b = newClient(s, { userId: "uuid2" });
    await startOnline(a, b);
    const info = await a.createRoom({ chatroomId: "crew", name: "Crew", members: ["uuid2"] });
    assert.deepEqual([info.chatroomId, info.name, info.owner, info.createdBy], ["crew", "Crew", "uuid1", "uuid1"]);
    await until(b, () => b.room("crew") !== undefined, 10_000);
    await assert.rejects(a.updateRoom("crew", { name: "Paris", owner: "uuid3" }), (e) => e instanceof TripsenseError && e.code === "conflict" && e.status === 409);
    assert.equal((await s.http("GET", "/v1/rooms/crew", "uuid1")).body.name, "Crew", "a refused hand-over renamed nothing");
    assert.equal((await a.updateRoom("crew", { owner: "uuid2" })).owner, "uuid2");
    await assert.rejects(a.addMember("crew", "uuid3"), (e) => e instanceof TripsenseError && e.code === "forbidden" && e.status === 403);
    await b.addMember("crew", "uuid3");
    await b.removeMember("crew", "uuid1");
    await until(a, () => a.room("crew") === undefined, 10_000, () => JSON.stringify(a.room("crew")));
    await assert.rejects(a.createRoom({ name: "" }), (e) => e instanceof TripsenseError && e.code === "bad_request" && e.status === 400);
    const members = (await s.http("GET", "/v1/rooms/crew/members", "uuid2")).body.members.map((m) => `${m.userId}:${m.role}`);
    assert.deepEqual(members, ["uuid2:owner", "uuid3:member"]);
    await a.close();
    await b.close();
  }));

/** Runs f(0..n-1), at most width at a time. */
async function pool(n, width, f) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await f(next++);
  }));
}

test("a user in 1,000 rooms with 50-byte ids reconnects and catches up (each sync under 32 KiB); an install whose device cursor leads its state skips nothing", () =>
  withServer([], async (s) => {
    const id = (i) => `trip-${String(i).padStart(4, "0")}-${"x".repeat(40)}`;
    const t0 = Date.now();
    // 1,000 rooms: the server's limit of rooms per user (one more is refused 409).
    await pool(1000, 16, async (i) => {
      const r = await s.http("POST", "/v1/rooms", "big", { chatroomId: id(i), name: "r" });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    });
    const made = Date.now() - t0;
    const post = (n, every) => pool(n, 16, async (i) => {
      const r = await s.http("POST", `/v1/rooms/${id(i * every)}/messages`, "admin", { chatMessage: `m${i}`, messageType: "text message" });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    });
    const sent = [];
    const a = newClient(s, { userId: "big", deviceId: "phone", storage: new MemoryStorage(), fetchRoomsOnConnect: false, WebSocket: recordingWebSocket(sent) });
    await a.start();
    await until(a, () => a.state === "online" && a.roomList().length === 1000);
    await a.close();
    const saved = await a.storage.get("tripsense:state"); // have 1 (its join) in every room
    // Offline: messages in 300 rooms, and the user leaves 20 rooms (its state still holds them).
    await post(300, 3);
    await pool(20, 10, async (i) => assert.equal((await s.http("DELETE", `/v1/rooms/${id(1 + i * 50)}/members/big`, "big")).status, 200));
    // 1,000 cursors of 50-byte ids make a 56 KB sync frame: the server answers too_large. The client
    // sends those that fit and lets the rest start from its device's cursor.
    await a.start();
    const heads = async () => new Map(((await s.http("GET", "/v1/rooms", "big")).body.rooms).map((r) => [r.chatroomId, r.head]));
    let want = await heads();
    assert.equal(want.size, 980);
    await until(a, () => a.state === "online" && a.roomList().length === 980 && [...want].every(([r, h]) => a.room(r)?.have === h), 10_000,
      () => JSON.stringify([a.state, a.roomList().length, [...want].filter(([r, h]) => a.room(r)?.have !== h).length]));
    const frames = sent.filter((f) => f.action === "sync");
    assert.ok(frames.length >= 2, "one sync round: the test did not exercise the limit");
    for (const f of frames) assert.ok(Buffer.byteLength(JSON.stringify(f)) <= 30_000);
    await a.close(); // the device's delivered cursors are now the heads
    // More messages; then the same install starts from the state it had saved before (killed before it
    // wrote the rest): where the client sends no cursor the device's cursor is ahead of what it holds.
    await post(200, 5);
    want = await heads();
    const storage = new MemoryStorage();
    await storage.set("tripsense:state", saved);
    const sentB = [];
    const b = newClient(s, { userId: "big", deviceId: "phone", storage, fetchRoomsOnConnect: false, WebSocket: recordingWebSocket(sentB) });
    const got = new Map();
    b.on("event", (e) => got.set(e.chatroomId, [...(got.get(e.chatroomId) ?? []), e.index]));
    await b.start();
    await until(b, () => b.state === "online" && b.roomList().length === 980 && [...want].every(([r, h]) => b.room(r)?.have === h), 10_000,
      () => JSON.stringify([b.state, b.roomList().length, [...want].filter(([r, h]) => b.room(r)?.have !== h).length]));
    for (const [room, head] of want) {
      if (head > 1) assert.deepEqual(got.get(room), Array.from({ length: head - 1 }, (_, i) => i + 2), room);
      else assert.equal(got.get(room), undefined, room);
    }
    assert.deepEqual(held(b, id(0)), shape(await s.history(id(0), "big")));
    // Rooms with messages that the first round sent no cursor for came back short (their device cursor
    // is ahead): the next round sent their cursor, 1.
    const [first, second] = sentB.filter((f) => f.action === "sync").map((f) => f.cursors);
    const refilled = [...want].filter(([r, h]) => h > 1 && first[r] === undefined && second?.[r] === 1);
    assert.ok(refilled.length > 0, "no room was left out of the first round and refilled from its cursor");
    console.log(`1,000 rooms made in ${made} ms; the test took ${Date.now() - t0} ms; ${frames.length} sync rounds on reconnect; ${Object.keys(first).length} cursors in the first round of the stale install, ${refilled.length} rooms refilled`);
  }));
