// Fault injection: every client talks to the server through a TCP proxy on
// 127.0.0.1 that cuts connections at random points (mid-frame, mid-sync,
// during HTTP calls), 40 times, from a fixed seed. Afterwards every client
// holds exactly the server's log of each of its rooms (every entry of every
// kind, membership included, delivered to its handlers once and in order; its
// messages equal to the server's history), and every outbox message is
// stored once.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FileStorage } from "../dist/node.js";
import { Server, closeAll, entryShape, freePort, held, newClient, shape, until } from "./helpers.mjs";

/** mulberry32: a small seeded PRNG, so a failing run can be repeated. */
function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Cuts up to `cuts` connections at random byte points. A new connection is,
 * with probability p, given a byte budget (server to client, sometimes
 * client to server); every 20-120 ms a random open connection gets a small
 * one too. When the budget runs out the proxy forwards the part of the chunk
 * that fits (so the client sees half a frame) and destroys both sides; an
 * armed connection that stays quiet for 1.5 s is cut between frames.
 */
class CuttingProxy {
  constructor(target, random, cuts, p = 0.7) {
    Object.assign(this, { target, random, total: cuts, cutsLeft: cuts, p, cutsDone: 0, midFrame: 0, bigChunkCuts: 0, idleCuts: 0, conns: 0, open: new Set() });
  }
  async start() {
    this.port = await freePort();
    this.server = createServer((down) => this.handle(down));
    await new Promise((r) => this.server.listen(this.port, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${this.port}`;
    const tick = () => {
      if (this.cutsDone >= this.total) return;
      const conns = [...this.open].filter((c) => c.budget === Infinity);
      if (conns.length) this.arm(conns[Math.floor(this.random() * conns.length)], 1 + Math.floor(this.random() * 400));
      this.ticker = setTimeout(tick, 20 + Math.floor(this.random() * 100));
    };
    tick();
    return this;
  }
  arm(c, budget) {
    if (this.cutsLeft <= 0) return;
    this.cutsLeft--;
    c.dir = this.random() < 0.8 ? "down" : "up";
    c.budget = budget;
    c.idle = setTimeout(() => {
      if (c.budget !== Infinity) {
        this.idleCuts++;
        this.cut();
        c.budget = Infinity;
        c.kill();
      }
    }, 1500);
  }
  handle(down) {
    this.conns++;
    const up = connect(this.target, "127.0.0.1");
    const c = { down, up, budget: Infinity, dir: "down" };
    this.open.add(c);
    c.kill = () => {
      if (c.budget !== Infinity && this.open.has(c)) this.cutsLeft++; // closed on its own while armed: the cut is still owed
      clearTimeout(c.idle);
      c.budget = Infinity;
      down.destroy();
      up.destroy();
      this.open.delete(c);
    };
    down.on("error", c.kill).on("close", c.kill);
    up.on("error", c.kill).on("close", c.kill);
    if (this.forced?.length) {
      // A cut placed inside the first sync of forcedUser's next WebSocket (the bytes of its first
      // batches), decided on its upgrade request: another client's reconnect (a late pong under
      // load) or an HTTP request must not take the budget and leave the sync uncut.
      down.once("data", (req) => {
        const head = req.toString("latin1");
        if (this.forced?.length && head.startsWith("GET /ws?") && head.split("\r\n", 1)[0].includes(`userId=${this.forcedUser}`)) {
          c.dir = "down";
          c.budget = this.forced.shift();
          c.forced = true;
        }
      });
    } else if (this.random() < this.p) this.arm(c, 200 + Math.floor(this.random() * 40000));
    const pipe = (from, to, d) =>
      from.on("data", (chunk) => {
        if (d !== c.dir || c.budget === Infinity) return void to.write(chunk);
        if (chunk.length < c.budget) {
          c.budget -= chunk.length;
          return void to.write(chunk);
        }
        if (c.budget < chunk.length) this.midFrame++;
        if (chunk.length > 4096) this.bigChunkCuts++; // live frames are ~250 bytes: this is a sync batch
        if (c.forced) this.forcedCuts = (this.forcedCuts ?? 0) + 1;
        const part = chunk.subarray(0, c.budget);
        c.budget = Infinity;
        clearTimeout(c.idle);
        if (!c.forced) this.cut();
        from.pause();
        to.write(part, () => c.kill());
      });
    pipe(down, up, "up");
    pipe(up, down, "down");
  }
  /** Counts a cut and wakes waitCuts once all of them are done. */
  cut() {
    this.cutsDone++;
    if (this.cutsDone >= this.total) this.whenDone?.();
  }
  /**
   * Resolves once every cut is done. Checked on the proxy's own cuts, not on
   * client events: the last cut may close an idle HTTP keep-alive socket,
   * after which no client emits anything.
   */
  waitCuts(ms) {
    return new Promise((resolve, reject) => {
      if (this.cutsDone >= this.total) return resolve();
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for cuts: ${this.cutsDone} of ${this.total}`)), ms);
      this.whenDone = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  async close() {
    clearTimeout(this.ticker);
    for (const c of this.open) c.kill();
    await new Promise((r) => this.server.close(r));
  }
}

// A room's head is the index of its last log entry, not its number of messages: the
// membership entries of the setup (and uuid5's joins later) are entries of the log too
// (docs/protocol.md, member), which GET /v1/rooms/{room}/messages folds away. So heads come
// from Server.log, and the handler deliveries are compared with every entry of the log.
test("random connection cuts: every client ends with exactly the server's log, every send stored once", { timeout: 180_000 }, async () => {
  const seed = Number(process.env.SDK_FAULT_SEED ?? 20261125);
  const random = rng(seed);
  const s = await new Server().start();
  const dir = mkdtempSync(join(tmpdir(), "tripsense-sdk-faults-"));
  const proxy = await new CuttingProxy(s.port, random, 40).start();
  try {
    // uuid3 shares uuidroom2 and uuidroom3; uuid4 reads every room.
    for (const [room, user] of [["uuidroom2", "uuid3"], ["uuidroom3", "uuid3"], ["uuidroom1", "uuid4"], ["uuidroom2", "uuid4"], ["uuidroom3", "uuid4"]]) {
      assert.equal((await s.http("POST", `/v1/rooms/${room}/members`, "admin", { userId: user })).status, 200);
    }
    // History before the clients start, so their first syncs are long (several 32 KiB batches).
    const seedClient = newClient(s, { userId: "uuid1", outboxWindow: 64 });
    await seedClient.start();
    await Promise.all(Array.from({ length: 400 }, (_, i) => seedClient.send(i % 2 ? "uuidroom1" : "uuidroom2", `history ${i} ${"x".repeat(120)}`)));
    await seedClient.close();

    const rooms = { uuid1: ["uuidroom1", "uuidroom2"], uuid2: ["uuidroom2", "uuidroom3"], uuid3: ["uuidroom2", "uuidroom3"], uuid4: ["uuidroom1", "uuidroom2", "uuidroom3"] };
    const opts = (user) => ({ userId: user, random, gapFillMs: 200, pingIntervalMs: 2000, pongTimeoutMs: 2000, storage: new FileStorage(join(dir, `${user}.json`)) });
    const clients = {};
    const events = {}; // user -> room -> indexes delivered to the handler, in order
    const track = (user, c) => c.on("event", (e) => ((events[user] ??= {})[e.chatroomId] ??= []).push(entryShape(e)));
    for (const user of Object.keys(rooms)) {
      const c = newClient({ url: proxy.url }, opts(user));
      track(user, c);
      clients[user] = c;
    }
    await Promise.all(Object.values(clients).map((c) => c.start()));

    // Senders queue messages at random moments while the proxy cuts.
    const sentIds = [];
    const senders = ["uuid1", "uuid2", "uuid3"];
    let restarted = false;
    for (let i = 0; i < 150; i++) {
      const user = senders[Math.floor(random() * senders.length)];
      const room = rooms[user][Math.floor(random() * rooms[user].length)];
      const id = `${user}-${i}`;
      sentIds.push(id);
      void clients[user].send(room, `live ${i} from ${user}`, { clientMsgId: id }).catch(() => {});
      if (i === 75 && !restarted) {
        // uuid3's app restarts: the new instance continues from the file (outbox, cursors).
        restarted = true;
        await clients.uuid3.close();
        clients.uuid3 = newClient({ url: proxy.url }, opts("uuid3"));
        track("uuid3", clients.uuid3);
        await clients.uuid3.start();
      }
      await new Promise((r) => setTimeout(r, Math.floor(random() * 20))); // the senders' pace, not a wait for an event
    }
    // Cuts come with traffic and reconnects; on a loaded machine clients in
    // backoff make them slower to come.
    await proxy.waitCuts(100_000);

    // Every outbox empties and every client reaches the server's heads.
    const all = Object.values(clients);
    await until(all, () => all.every((c) => c.pending().length === 0), 60_000, () => JSON.stringify(all.map((c) => [c.userId, c.state, c.pending().length])));
    const heads = {};
    const readHeads = async () => {
      for (const room of ["uuidroom1", "uuidroom2", "uuidroom3"]) heads[room] = (await s.log(room, "uuid4")).head;
    };
    await readHeads();
    const caughtUp = () => Object.entries(rooms).every(([u, rs]) => rs.every((r) => clients[u].room(r)?.have === heads[r]));
    const progress = () => JSON.stringify(Object.entries(rooms).map(([u, rs]) => [u, clients[u].state, rs.map((r) => [r, `have ${clients[u].room(r)?.have}`, `head ${heads[r]}`])]));
    await until(all, caughtUp, 60_000, progress);

    // A new device with no state (uuid5, every room) catches up on the whole log; its first three
    // connections are cut inside their syncs, at byte 20000, 15000 and 10000 of what the server sends.
    for (const room of ["uuidroom1", "uuidroom2", "uuidroom3"]) assert.equal((await s.http("POST", `/v1/rooms/${room}/members`, "admin", { userId: "uuid5" })).status, 200);
    rooms.uuid5 = ["uuidroom1", "uuidroom2", "uuidroom3"];
    const before = { ...heads };
    await readHeads(); // uuid5's joins are entries of each room's log: the other clients get them live
    for (const room of rooms.uuid5) assert.equal(heads[room], before[room] + 1, `${room}: uuid5's join is one log entry`);
    proxy.forcedUser = "uuid5";
    proxy.forced = [20000, 15000, 10000];
    clients.uuid5 = newClient({ url: proxy.url }, { ...opts("uuid5"), pingIntervalMs: 25_000 });
    track("uuid5", clients.uuid5);
    await clients.uuid5.start();
    await until(Object.values(clients), caughtUp, 60_000, progress);
    assert.equal(proxy.forcedCuts, 3, "the cuts inside a sync did not all happen");

    for (const [user, rs] of Object.entries(rooms)) {
      for (const room of rs) {
        const messages = shape(await s.history(room, "uuid4"));
        const log = await s.log(room, "uuid4");
        assert.equal(log.head, heads[room], `${room}: the head moved after the clients caught up`);
        assert.deepEqual(log.entries.map((e) => e.index), Array.from({ length: log.head }, (_, i) => i + 1), `${room}: the log has a gap`);
        assert.ok(log.entries.some((e) => e.kind === "member"), `${room}: no membership entry in the log, the test lost its point`);
        assert.deepEqual(held(clients[user], room), messages, `${user} ${room}: messages`);
        assert.deepEqual(events[user][room], log.entries.map(entryShape), `${user} ${room}: handler deliveries`);
      }
    }
    const stored = new Map();
    for (const room of ["uuidroom2", "uuidroom3", "uuidroom1"]) for (const m of await s.history(room, "uuid4")) if (m.clientMsgId) stored.set(m.clientMsgId, (stored.get(m.clientMsgId) ?? 0) + 1);
    for (const id of sentIds) assert.equal(stored.get(id), 1, `${id} stored ${stored.get(id) ?? 0} times`);
    assert.equal(proxy.cutsDone, 40, `only ${proxy.cutsDone} cuts happened`);
    assert.ok(proxy.midFrame >= 8, `too few cuts inside frames (${proxy.midFrame}): the test lost its teeth`);
    console.log(`seed ${seed}: ${proxy.cutsDone} cuts (+${proxy.forcedCuts} placed inside uuid5's syncs) (${proxy.midFrame} inside a chunk, ${proxy.bigChunkCuts} of them in a sync batch, ${proxy.idleCuts} between frames), ${proxy.conns} proxied connections, ${sentIds.length} sends, heads ${JSON.stringify(heads)}`);
  } finally {
    await closeAll();
    await proxy.close();
    await s.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
