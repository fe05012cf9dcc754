// The SDK's frame types come from the WebSocket contract
// (docs/protocol.schema.json), and the client handles every server frame of it.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { SERVER_FRAME_TYPES, applyEntry, newRoom } from "../dist/index.js";

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
