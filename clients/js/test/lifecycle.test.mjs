// The SDK against the real binary: edits, deletes and reactions (live and
// by catch-up), first-frame authentication with tripsense.v1 and the auth
// refresh, the per-install deviceId, and a new store epoch.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { WebSocket } from "ws";
import { FileStorage } from "../dist/node.js";
import { Server, closeAll, newClient, recordingWebSocket, startOnline, until } from "./helpers.mjs";

async function withServer(args, f, env) {
  const s = await new Server(args, env).start();
  try {
    await f(s);
  } finally {
    await closeAll();
    await s.cleanup();
  }
}

/** A room's messages in current state, comparable across clients. */
const view = (c, room) => (c.room(room)?.messages ?? []).map((m) => ({ index: m.index, userId: m.userId, chatMessage: m.chatMessage, edited: !!m.edited, deleted: !!m.deleted, reactions: m.reactions, replyTo: m.replyTo }));

test("edit, delete and reaction: live, by WebSocket and HTTP catch-up, all clients reach one state", () =>
  withServer([], async (s) => {
    const a = newClient(s, { userId: "uuid1" });
    const b = newClient(s, { userId: "uuid2" });
    await startOnline(a, b);
    const m1 = await a.send("uuidroom2", "Landing at 10:40");
    const m2 = await b.send("uuidroom2", "Gate B12", { replyTo: m1.index });
    const ed = await a.edit("uuidroom2", m1.index, "Landing at 10:55");
    await b.react("uuidroom2", m1.index, "👍");
    await a.react("uuidroom2", m1.index, "👍");
    await a.react("uuidroom2", m1.index, "👍", { remove: true });
    await assert.rejects(a.edit("uuidroom2", m2.index, "not mine"), (e) => e.code === "forbidden" && e.action === "editMessage");
    await b.delete("uuidroom2", m2.index);
    assert.equal(ed.index, 3);
    await until([a, b], () => a.room("uuidroom2")?.have === 7 && b.room("uuidroom2")?.have === 7, 5000, () => JSON.stringify([a.room("uuidroom2"), b.room("uuidroom2")]));
    const want = [
      { index: 1, userId: "uuid1", chatMessage: "Landing at 10:55", edited: true, deleted: false, reactions: { "👍": ["uuid2"] }, replyTo: undefined },
      { index: 2, userId: "uuid2", chatMessage: undefined, edited: false, deleted: true, reactions: {}, replyTo: 1 },
    ];
    assert.deepEqual(view(a, "uuidroom2"), want, "a (own changes by ack, b's live)");
    assert.deepEqual(view(b, "uuidroom2"), want, "b");
    // Fresh installs of uuid2 catch up from 0: over the WebSocket and over GET /v1/sync.
    const c = newClient(s, { userId: "uuid2" });
    const d = newClient(s, { userId: "uuid2", catchup: "http" });
    await c.start();
    await d.start();
    await until([c, d], () => c.room("uuidroom2")?.have === 7 && d.room("uuidroom2")?.have === 7, 5000);
    assert.deepEqual(view(c, "uuidroom2"), want, "c (WebSocket catch-up)");
    assert.deepEqual(view(d, "uuidroom2"), want, "d (HTTP catch-up)");
    // The server's history in current state agrees.
    const { body } = await s.http("GET", "/v1/rooms/uuidroom2/messages", "uuid1");
    assert.deepEqual(body.messages.map((m) => [m.index, m.chatMessage, !!m.edited, !!m.deleted, m.reactions ?? {}]),
      [[1, "Landing at 10:55", true, false, { "👍": 1 }], [2, undefined, false, true, {}]]);
  }));

const secret = "0123456789abcdef0123456789abcdef-sdk-test";

test("token mode: the token goes in the first frame (never the URL), tripsense.v1 is offered, authed opens and the refresh keeps the socket", () =>
  withServer(["--auth", "token"], async (s) => {
    const sent = [];
    const urls = [];
    const protocols = [];
    const Rec = recordingWebSocket(sent);
    class Watch extends Rec {
      constructor(url, p) {
        super(url, p);
        urls.push(url);
        protocols.push(p);
      }
    }
    let calls = 0;
    const a = newClient(s, {
      WebSocket: Watch,
      refreshBeforeExpMs: 2000,
      token: () => s.tool(["token", "--user", "uuid1", "--ttl", ++calls === 1 ? "3s" : "1h"]),
    });
    const authed = [];
    a.on("authed", (x) => authed.push(x));
    const codes = [];
    a.on("state", (_st, d) => d.code && codes.push(d.code));
    await a.start();
    await until(a, () => a.state === "online");
    assert.equal(sent[0].action, "auth", "the first frame is auth");
    assert.equal(authed.length, 1);
    assert.equal(authed[0].userId, "uuid1");
    await until(a, () => authed.length === 2, 10_000, () => JSON.stringify(authed));
    assert.ok(authed[1].exp > authed[0].exp + 3000, JSON.stringify(authed));
    const ack = await a.send("uuidroom1", "after the refresh");
    assert.equal(ack.index, 1);
    assert.equal(urls.length, 1, "one socket: the refresh did not reconnect");
    assert.ok(!urls[0].includes("token="), urls[0]);
    assert.match(urls[0], /deviceId=[0-9a-f-]{36}/);
    assert.equal(protocols[0], "tripsense.v1");
    assert.deepEqual(codes, []);
    assert.equal(sent.filter((f) => f.action === "auth").length, 2);
  }, { TRIPSENSE_TOKEN_SECRET: secret }));

test("close 4401: a refused first-frame token makes the client fetch a fresh one", () =>
  withServer(["--auth", "token"], async (s) => {
    const forced = [];
    const a = newClient(s, {
      token: ({ forceRefresh }) => {
        forced.push(forceRefresh);
        return forced.length === 1 ? "not.a.token" : s.tool(["token", "--user", "uuid1", "--ttl", "1h"]);
      },
    });
    const codes = [];
    a.on("state", (_st, d) => d.code && codes.push(d.code));
    await a.start();
    await until(a, () => a.state === "online", 10_000, () => JSON.stringify(codes));
    assert.deepEqual(codes, [4401]);
    assert.deepEqual(forced, [false, true]);
  }, { TRIPSENSE_TOKEN_SECRET: secret }));

test("deviceId: made once per install and kept in storage; another install is another device", () =>
  withServer([], async (s) => {
    const dir = mkdtempSync(join(tmpdir(), "tripsense-sdk-dev-"));
    try {
      const urls = [];
      class Watch extends WebSocket {
        constructor(url, p) {
          super(url, p);
          urls.push(url);
        }
      }
      const a = newClient(s, { userId: "uuid1", WebSocket: Watch, storage: new FileStorage(join(dir, "a.json")) });
      await a.start();
      await until(a, () => a.state === "online");
      await a.close();
      const again = newClient(s, { userId: "uuid1", WebSocket: Watch, storage: new FileStorage(join(dir, "a.json")) });
      await again.start();
      await until(again, () => again.state === "online");
      const other = newClient(s, { userId: "uuid1", WebSocket: Watch });
      await other.start();
      await until([again, other], () => again.state === "online" && other.state === "online");
      const dev = urls.map((u) => new URL(u).searchParams.get("deviceId"));
      assert.equal(dev[0], dev[1], "the same install keeps its deviceId");
      assert.notEqual(dev[0], dev[2], "another install has another one");
      assert.equal(again.state, "online", "a second device does not replace the first");
    } finally {
      // Closed first: an open client may still be saving its state into dir
      // (a temporary file, then a rename) while it is removed.
      await closeAll();
      rmSync(dir, { recursive: true, force: true });
    }
  }));

test("a new store epoch drops cursors and held state and syncs from 0", () =>
  withServer([], async (s) => {
    const a = newClient(s, { userId: "uuid1" });
    const resets = [];
    a.on("reset", (r) => resets.push(r));
    await a.start();
    await until(a, () => a.state === "online");
    for (let i = 1; i <= 3; i++) await a.send("uuidroom2", `before ${i}`);
    await s.stop();
    // A different store on the same address: what a restore looks like to a client.
    rmSync(s.dataDir, { recursive: true, force: true });
    mkdirSync(s.dataDir);
    await s.start();
    const b = newClient(s, { userId: "uuid2" });
    await b.start();
    await b.send("uuidroom2", "after");
    await until(a, () => resets.length === 1 && a.state === "online" && a.room("uuidroom2")?.have === 1, 10_000, () => JSON.stringify([resets, a.room("uuidroom2")]));
    assert.deepEqual(a.room("uuidroom2").messages.map((m) => m.chatMessage), ["after"]);
    assert.match(resets[0].epoch, /^[0-9a-f]{16}$/);
    assert.notEqual(resets[0].epoch, resets[0].previous);
  }));
