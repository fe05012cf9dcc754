// The Tripsense web client: everything hard (reconnect, outbox, catch-up,
// exactly-once delivery, room state) is the SDK's; this file only renders.
import { IndexedDBStorage, TripsenseClient } from "/web/sdk/index.js";

const $ = (id) => document.getElementById(id);
let client, current, editing; // editing: the index of the own message being edited

$("signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const token = $("token").value.trim();
  const userId = $("user").value.trim();
  const opts = { url: location.origin, storage: new IndexedDBStorage("tripsense-" + (token ? "token" : userId)) };
  if (token) Object.assign(opts, { token: () => token, tokenTransport: new URLSearchParams(location.search).get("tokenTransport") ?? "frame" });
  else opts.userId = userId;
  client = new TripsenseClient(opts);
  window.tripsense = client; // for the browser test and the curious
  client.on("state", renderStatus);
  client.on("room", (r) => {
    renderRooms();
    if (r.chatroomId === current) renderRoom();
  });
  client.on("roomRemoved", () => renderRooms());
  client.on("ack", renderPending);
  client.on("error", (e) => console.warn("tripsense:", e.code, e.message));
  $("signin").hidden = true;
  $("app").hidden = false;
  $("me").textContent = userId || "token";
  await client.start();
  renderPending();
});

function renderStatus(state) {
  $("status").textContent = state;
  $("status").className = state;
}

function renderPending() {
  const n = client.pending().length;
  $("pending").textContent = n ? `${n} waiting to send` : "";
}

function renderRooms() {
  const ul = $("rooms");
  ul.replaceChildren(
    ...client.roomList().map((r) => {
      const li = document.createElement("li");
      li.dataset.room = r.chatroomId;
      li.className = r.chatroomId === current ? "active" : "";
      const name = document.createElement("span");
      name.textContent = r.chatroomId;
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = r.unread > 0 ? String(r.unread) : "";
      li.append(name, badge);
      li.onclick = () => open(r.chatroomId);
      return li;
    }),
  );
}

function open(room) {
  current = room;
  renderRooms();
  renderRoom();
}

function renderRoom() {
  const r = client.room(current);
  if (!r) return;
  $("messages").replaceChildren(
    ...r.messages.map((m) => {
      const li = document.createElement("li");
      li.dataset.index = String(m.index);
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = m.userId;
      const text = document.createElement("span");
      text.className = m.deleted ? "text deleted" : "text";
      text.textContent = m.deleted ? "message deleted" : m.chatMessage;
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = new Date(m.createTime).toLocaleTimeString() + (m.edited ? " (edited)" : "");
      li.append(who, text, meta);
      const button = (cls, label, onclick) => {
        const b = document.createElement("button");
        b.className = cls;
        b.type = "button";
        b.textContent = label;
        b.onclick = onclick;
        li.append(b);
      };
      if (m.userId === client.userId && !m.deleted) {
        button("edit", "edit", () => startEdit(m));
        button("delete", "delete", () => change(client.delete(current, m.index)));
      }
      if (!m.deleted) {
        // Toggles your 👍: a second click takes it back.
        const mine = (m.reactions[LIKE] ?? []).includes(client.userId);
        button(mine ? "like mine" : "like", mine ? "unlike" : "like", () => change(client.react(current, m.index, LIKE, { remove: mine })));
      }
      const reactions = Object.entries(m.reactions);
      if (reactions.length) {
        const rx = document.createElement("span");
        rx.className = "reactions";
        rx.textContent = reactions.map(([x, users]) => `${x} ${users.length}`).join(" ");
        li.append(rx);
      }
      return li;
    }),
  );
  const readers = Object.entries(r.receipts).filter(([u, n]) => u !== client.userId && n > 0).map(([u, n]) => `${u} read up to #${n}`);
  $("receipts").textContent = readers.join(", ");
  $("messages").scrollTop = $("messages").scrollHeight;
  if (document.visibilityState === "visible" && r.have > r.lastRead) client.markRead(current);
}

const LIKE = "👍";

/** A change through the outbox: shown as pending until its ack, a refusal as an alert. */
function change(done) {
  done.catch((e) => alert(`${e.code}: ${e.message}`));
  renderPending();
}

function startEdit(m) {
  editing = m.index;
  $("text").value = m.chatMessage ?? "";
  $("text").placeholder = `Edit #${m.index}`;
  $("text").focus();
}

$("send").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("text").value;
  if (!text || !current) return;
  $("text").value = "";
  const done = editing ? client.edit(current, editing, text) : client.send(current, text);
  editing = undefined;
  $("text").placeholder = "Message";
  change(done);
});

document.addEventListener("visibilitychange", () => client && current && renderRoom());
