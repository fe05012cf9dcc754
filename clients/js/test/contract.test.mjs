// The SDK's frame types come from the WebSocket contract
// (docs/protocol.schema.json), and the client handles every server frame of it.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { SERVER_FRAME_TYPES, TripsenseClient, applyEntry, newRoom } from "../dist/index.js";

test("src/protocol.ts is generated from the current schema", () => {
  execFileSync("node", ["scripts/gen-protocol.mjs", "--check"], { stdio: "inherit" });
});

test("the client handles every server frame type of the contract", () => {
  const src = readFileSync(new URL("../src/client.ts", import.meta.url), "utf8");
  const handled = new Set([...src.matchAll(/case "([a-zA-Z]+)":/g)].map((m) => m[1]));
  handled.add("pong"); // answers ping; any frame resets the keep-alive deadline
  for (const t of SERVER_FRAME_TYPES) assert.ok(handled.has(t), `server frame ${t} is not handled`);
});

test("room state applies lifecycle entries (issue 13 kinds) in index order", () => {
  const r = newRoom("r");
  const e = (index, extra) => ({ chatroomId: "r", index, userId: "alice", createTime: `2026-11-25T00:00:0${index}.000Z`, ...extra });
  applyEntry(r, e(1, { chatMessage: "helo", messageType: "text message" }));
  applyEntry(r, e(2, { kind: "edit", target: 1, chatMessage: "hello" }));
  applyEntry(r, e(3, { kind: "reaction", target: 1, reaction: "👍" }));
  applyEntry(r, e(4, { kind: "reaction", target: 1, reaction: "👍", userId: "bob" }));
  applyEntry(r, e(5, { kind: "reaction", target: 1, reaction: "👍", userId: "bob", remove: true }));
  applyEntry(r, e(6, { chatMessage: "bye", messageType: "text message" }));
  applyEntry(r, e(7, { kind: "delete", target: 6 }));
  applyEntry(r, e(8, { kind: "edit", target: 6, chatMessage: "resurrected?" }));
  applyEntry(r, e(9, { kind: "roomRenamed" })); // a kind this SDK does not know takes its index
  assert.equal(r.have, 9);
  assert.deepEqual(r.messages.map((m) => [m.index, m.chatMessage, !!m.edited, !!m.deleted, m.reactions]), [
    [1, "hello", true, false, { "👍": ["alice"] }],
    [6, undefined, false, true, {}],
  ]);
  assert.equal(r.unread, 9);
});

test("membership and rename entries (issue 14) take their index; a rename names the room, an owner entry sets its owner", () => {
  const r = newRoom("trip");
  const e = (index, extra) => ({ chatroomId: "trip", index, userId: "alice", createTime: "2026-11-25T00:00:01.000Z", ...extra });
  applyEntry(r, e(1, { kind: "member", event: "joined", by: "alice" }));
  applyEntry(r, e(2, { kind: "member", event: "joined", by: "alice", userId: "bob" }));
  applyEntry(r, e(3, { kind: "rename", name: "Rome 2027" }));
  applyEntry(r, e(4, { chatMessage: "ciao", messageType: "text message" }));
  assert.equal(r.owner, undefined, "no owner entry yet: the creator owns it");
  applyEntry(r, e(5, { kind: "member", event: "owner", by: "alice", userId: "bob" }));
  assert.equal(r.have, 5);
  assert.equal(r.name, "Rome 2027");
  assert.equal(r.owner, "bob");
  assert.deepEqual(r.messages.map((m) => m.index), [4]);
});

test("a message from catch-up arrives in its current state (edited, deleted)", () => {
  const r = newRoom("r");
  applyEntry(r, { chatroomId: "r", index: 1, userId: "alice", kind: "message", chatMessage: "v2", messageType: "text message", createTime: "2026-11-25T00:00:01.000Z", edited: true, editedAt: "2026-11-25T00:00:02.000Z" });
  applyEntry(r, { chatroomId: "r", index: 2, userId: "alice", kind: "message", messageType: "text message", createTime: "2026-11-25T00:00:03.000Z", deleted: true, deletedBy: "bob", deletedAt: "2026-11-25T00:00:04.000Z" });
  assert.deepEqual(r.messages.map((m) => [m.chatMessage, !!m.edited, m.editedAt, !!m.deleted, m.deletedBy]), [
    ["v2", true, "2026-11-25T00:00:02.000Z", false, undefined],
    [undefined, false, undefined, true, "bob"],
  ]);
});

/** A WebSocket stand-in that opens, then delivers the given server frames. */
function scriptedWebSocket(frames, sockets) {
  return class {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = 0;
      this.closed = [];
      sockets.push(this);
      queueMicrotask(() => {
        this.readyState = 1;
        this.onopen?.({});
        for (const f of frames) this.onmessage?.({ data: JSON.stringify(f) });
      });
    }
    send() {}
    close(code, reason) {
      this.readyState = 3;
      this.closed.push([code, reason]);
    }
  };
}

test("a closing frame (AWS) is acted on exactly as its close code", async () => {
  for (const [code, want] of [[4000, "replaced"], [4409, "refused"], [1001, "offline"]]) {
    const sockets = [];
    const c = new TripsenseClient({ url: "http://127.0.0.1:1", userId: "u", fetchRoomsOnConnect: false, watchNetwork: false, backoff: { initialMs: 60_000 },
      WebSocket: scriptedWebSocket([{ type: "closing", code, reason: "r" }], sockets) });
    const states = [];
    c.on("state", (s, d) => states.push([s, d.code]));
    c.on("error", () => {});
    await c.start();
    await new Promise((r) => setTimeout(r, 0)); // the scripted frames are delivered in a microtask
    assert.deepEqual(states.at(-1), [want, code], `closing ${code}: ${JSON.stringify(states)}`);
    assert.equal(sockets.length, 1);
    assert.ok(sockets[0].closed.length === 1, "the client closed the socket itself");
    await c.close();
  }
});
