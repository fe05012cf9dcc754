import { TripsenseError } from "./errors.js";
import type { AckFrame, DeleteMessage, EditMessage, ErrorFrame, React, SendMessage } from "./protocol.js";
import { applyEntry, newRoom, type LogEntry, type RoomState } from "./state.js";
import { MemoryStorage, type StorageAdapter } from "./storage.js";

/** The connection's state, as the app shows it. */
export type ConnectionState =
  | "idle" // not started
  | "connecting" // opening the WebSocket
  | "syncing" // open, catching up
  | "online" // open and caught up: live
  | "offline" // waiting to reconnect (backoff)
  | "replaced" // close 4000: another tab or device of the user took over; no automatic reconnect
  | "refused" // close 4409 (duplicate policy refuse) or 4400 (bad request): no automatic reconnect
  | "closed"; // close() was called

/** The part of the WebSocket API the client uses (browsers' WebSocket, the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;
/**
 * The part of fetch the client uses (globalThis.fetch fits). The client passes an AbortSignal when the
 * platform has AbortController, and aborts it on the request's deadline and when its connection is
 * dropped; a fetch that ignores it still works (the client stops waiting for it). headers is read for a
 * 429's Retry-After; a response without it is fine.
 */
export type FetchLike = (input: string, init?: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<FetchResponseLike>;
export interface FetchResponseLike {
  status: number;
  json(): Promise<unknown>;
  headers?: { get(name: string): string | null };
}

/** Supplies a token (token mode). forceRefresh: the last one was refused or expired. */
export type TokenProvider = (opts: { forceRefresh: boolean }) => string | Promise<string>;

export interface ClientOptions {
  /** The server's HTTP base URL, e.g. "http://localhost:8080"; the WebSocket is its /ws. */
  url: string;
  /** Dev identity mode: the user id (sent as ?userId= and X-User-Id). */
  userId?: string;
  /** Token identity mode: called before every connect and before the token expires. */
  token?: TokenProvider;
  /**
   * How the token reaches the WebSocket: "frame" (the default) sends {"action":"auth","token":T}
   * as the first frame and waits for "authed" (no token in URLs), "query" uses ?token=.
   */
  tokenTransport?: "frame" | "query";
  /** The WebSocket subprotocol offered: "tripsense.v1" by default; false offers none. */
  subprotocol?: string | false;
  /**
   * This install's device (?deviceId= on connect and on GET /v1/sync): its own delivered
   * cursors on the server. Default: a random id made once and kept in storage.
   */
  deviceId?: string;
  /** Defaults to globalThis.WebSocket. In Node pass the `ws` package's WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Defaults to globalThis.fetch. */
  fetch?: FetchLike;
  /** Where state and the outbox persist. Defaults to memory. */
  storage?: StorageAdapter;
  /** Rooms first seen: "all" fetches their whole history, "recent" starts at the server's delivered cursor. */
  history?: "all" | "recent";
  /** Catch-up over the WebSocket (default) or over GET /v1/sync. */
  catchup?: "ws" | "http";
  /** Reconnect delays: initialMs * factor^attempt up to maxMs, minus up to jitter of it at random. */
  backoff?: { initialMs?: number; maxMs?: number; factor?: number; jitter?: number };
  /** Application ping interval; no frame within pongTimeoutMs after a ping drops the connection. */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /** A sync round with no syncDone (or a GET /v1/sync page with no answer) within this drops the connection. */
  syncTimeoutMs?: number;
  /** The deadline of the other HTTP requests (GET /v1/rooms, receipts): aborted after it. */
  httpTimeoutMs?: number;
  /** The longest wait the client takes from a server's Retry-After or retryAfterMs (a longer one is cut to it). */
  maxRetryAfterMs?: number;
  /** A gap in a room still open after this is filled by a targeted sync. */
  gapFillMs?: number;
  /** markRead calls within this are sent as one frame. */
  markReadDelayMs?: number;
  /** Refresh the token this long before its exp. */
  refreshBeforeExpMs?: number;
  /** Refresh the token before exp (default true); false waits for the server's close 4003. */
  proactiveRefresh?: boolean;
  /** Sends in flight at once. 1 keeps the room order of the outbox even when the server rate-limits. */
  outboxWindow?: number;
  /** In browsers, follow the window's offline/online events: drop at once, reconnect at once (default true). */
  watchNetwork?: boolean;
  /** Fetch lastRead and receipts over HTTP after each catch-up (default true). */
  fetchRoomsOnConnect?: boolean;
  messageType?: string;
  /** Random source for jitter and ids (tests). */
  random?: () => number;
}

export interface Ack {
  chatroomId: string;
  index: number;
  clientMsgId: string;
  createTime: string;
  duplicate: boolean;
}

/** A room's metadata, as POST and PATCH /v1/rooms answer it (docs/api.md). */
export interface RoomInfo {
  chatroomId: string;
  name: string;
  /** The creator, for good. */
  createdBy: string;
  createdAt?: string;
  /** Who manages the room with the admins: the creator until the room is handed on. */
  owner?: string;
}

/** A change queued in the outbox: a message or a lifecycle event. */
export type OutboxFrame = SendMessage | EditMessage | DeleteMessage | React;

export interface OutboxEntry {
  clientMsgId: string;
  frame: OutboxFrame;
}

interface Events {
  state: (state: ConnectionState, detail: { code?: number; reason?: string; delayMs?: number }) => void;
  /** Every log entry of a room, exactly once, in index order. */
  event: (entry: LogEntry, room: RoomState) => void;
  /** A room's state changed (render it). */
  room: (room: RoomState) => void;
  roomRemoved: (chatroomId: string) => void;
  receipt: (r: { chatroomId: string; userId: string; lastRead: number }) => void;
  /**
   * A membership change: each membership entry of a room's log once, in index order with the
   * room's other entries (live or from catch-up, like "event"), with its index and who made it;
   * an erasure's member frame, which is not in the log, has no index.
   */
  /** A membership change: joined, left, or owner (the room was handed to userId). */
  member: (m: { chatroomId: string; userId: string; event: "joined" | "left" | "owner"; index?: number; by?: string }) => void;
  truncated: (t: { chatroomId: string; oldest: number }) => void;
  /** The server's store has a new epoch (a restore): held state was dropped and is synced again from 0. */
  reset: (r: { epoch: string; previous: string }) => void;
  /** The server accepted a token (first frame or refresh): the connection lives until exp (Unix seconds). */
  authed: (a: { userId: string; exp: number }) => void;
  ack: (ack: Ack) => void;
  synced: () => void;
  error: (err: TripsenseError) => void;
}

interface Room {
  state: RoomState;
  pending: Map<number, LogEntry>;
  /** When an entry was last delivered (a sequence number, persisted): the busiest rooms get cursors first. */
  touched: number;
  /** Left out of a sync's cursors and missing from its answer: the next sync sends its cursor (not_member drops it). */
  check?: boolean;
}

interface Waiter {
  resolve: (a: Ack) => void;
  reject: (e: TripsenseError) => void;
}

interface SyncResult {
  head?: number;
  complete?: boolean;
  truncated?: boolean;
  oldest?: number;
}

const OPEN = 1;
const MAX_SYNC_ROUNDS = 1000;
/** The server takes at most 1000 cursors in a sync or GET /v1/sync (docs/protocol.md, sync). */
const MAX_CURSORS = 1000;
/** A client frame is at most 32768 bytes (larger: too_large); a sync frame stays below it. */
const MAX_SYNC_FRAME_BYTES = 30_000;
/** The after= of GET /v1/sync: API Gateway's HTTP API takes 10240 bytes of request line and headers. */
const MAX_AFTER_BYTES = 6_000;
/** A rate-limited GET /v1/rooms or receipts request is retried at most this often per pass. */
const MAX_RATE_LIMIT_WAITS = 5;
const MAX_CHAT_MESSAGE_BYTES = 16384;

/**
 * A Tripsense client: one WebSocket with reconnect, a persistent outbox,
 * catch-up from its own cursors and exactly-once, in-order delivery per room.
 */
export class TripsenseClient {
  readonly options: Required<Pick<ClientOptions, "history" | "catchup" | "pingIntervalMs" | "pongTimeoutMs" | "syncTimeoutMs" | "httpTimeoutMs" | "maxRetryAfterMs" | "gapFillMs" | "markReadDelayMs" | "refreshBeforeExpMs" | "outboxWindow" | "messageType" | "fetchRoomsOnConnect">> & ClientOptions;
  private readonly storage: StorageAdapter;
  private readonly WS: WebSocketConstructor;
  private readonly fetchFn?: FetchLike;
  private readonly random: () => number;
  private readonly listeners = new Map<keyof Events, Set<(...args: never[]) => void>>();

  private rooms = new Map<string, Room>();
  private touchSeq = 0; // the last Room.touched given
  private outbox: (OutboxEntry & { sentGen?: number })[] = [];
  private waiters = new Map<string, Waiter[]>();
  private pendingReads = new Map<string, number>();

  private _state: ConnectionState = "idle";
  private ws?: WebSocketLike;
  private gen = 0; // connection generation: events of older sockets are ignored
  private attempt = 0;
  private forceRefresh = false;
  private currentToken?: string;
  private tokenExp?: number;
  private awaitingAuth = false;
  private epoch?: string;
  private device?: string;
  private userIdFromToken?: string;
  // again: a sync was asked for while this round ran (a room joined): another round follows it.
  // omitted: the rooms this round sent no cursor for (they start from the device's delivered cursor).
  private syncRound?: { results: Map<string, SyncResult>; answered: Set<string>; rounds: number; known: Set<string>; omitted: string[]; again?: boolean };
  // The same for a GET /v1/sync catch-up of connection gen: another page follows.
  private httpRound?: { gen: number; again: boolean };
  private pausedUntil = 0;
  private reconnectNotBefore = 0; // a 429's Retry-After: the next reconnect waits at least until then
  // Ends each HTTP request and wait of the connection in flight (the connection was dropped).
  private cancels = new Set<(e: TripsenseError) => void>();
  private timers = { reconnect: 0 as unknown, ping: 0 as unknown, pong: 0 as unknown, sync: 0 as unknown, gap: 0 as unknown, read: 0 as unknown, refresh: 0 as unknown, pump: 0 as unknown };
  private loaded?: Promise<void>;
  private saveChain: Promise<void> = Promise.resolve();
  private saveScheduled = false;
  private queueing = new Set<Promise<void>>();
  private starting?: Promise<void>;
  private closes = 0;

  constructor(options: ClientOptions) {
    if (!options.userId && !options.token) throw new TripsenseError("bad_request", "ClientOptions needs userId (dev mode) or token (token mode)");
    this.options = {
      history: "all", catchup: "ws", pingIntervalMs: 25_000, pongTimeoutMs: 10_000, syncTimeoutMs: 40_000, httpTimeoutMs: 30_000, maxRetryAfterMs: 60_000, gapFillMs: 2_000,
      markReadDelayMs: 500, refreshBeforeExpMs: 60_000, outboxWindow: 1, messageType: "text message", fetchRoomsOnConnect: true,
      ...options,
    };
    this.storage = options.storage ?? new MemoryStorage();
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new TripsenseError("bad_request", "no WebSocket implementation: pass options.WebSocket");
    this.WS = WS;
    const f = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
    if (f) this.fetchFn = f.bind(globalThis);
    this.random = options.random ?? Math.random;
  }

  /** The user this client acts as. */
  get userId(): string | undefined {
    return this.options.userId ?? this.userIdFromToken;
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof Events>(event: K, fn: Events[K]): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as (...args: never[]) => void);
    return () => {
      set.delete(fn as (...args: never[]) => void);
    };
  }

  private emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    for (const fn of [...(this.listeners.get(event) ?? [])] as ((...a: Parameters<Events[K]>) => void)[]) {
      try {
        fn(...args);
      } catch (e) {
        if (event !== "error") this.emit("error", new TripsenseError("internal", `a ${event} handler threw: ${String(e)}`));
      }
    }
  }

  /**
   * Loads the persisted state and connects. Resolves once the state is loaded. Also takes the
   * connection back after "replaced", "refused" or close(); on a running client it does nothing.
   */
  start(): Promise<void> {
    if (this._state !== "idle" && this._state !== "replaced" && this._state !== "refused" && this._state !== "closed") return Promise.resolve();
    this.starting ??= (async () => {
      const closes = this.closes;
      try {
        await this.load();
      } finally {
        this.starting = undefined;
      }
      if (this.closes !== closes) return; // close() was called meanwhile
      this._state = "idle"; // connect() leaves a stopped client alone: this start is the user's action
      this.attempt = 0;
      this.watchNetwork();
      this.connect();
    })();
    return this.starting;
  }

  private networkWatched = false;
  /** Browsers say when the network goes and comes back: act on it instead of waiting for a ping to fail. */
  private watchNetwork(): void {
    const w = globalThis as { addEventListener?: (ev: string, fn: () => void) => void };
    if (this.networkWatched || this.options.watchNetwork === false || typeof w.addEventListener !== "function") return;
    this.networkWatched = true;
    w.addEventListener("offline", () => {
      if (this._state === "syncing" || this._state === "online" || this._state === "connecting") this.reconnectNow("network offline");
    });
    w.addEventListener("online", () => {
      if (this._state !== "offline") return;
      clearTimeout(this.timers.reconnect as number);
      this.attempt = 0;
      this.connect();
    });
  }

  /** Closes the connection and stops reconnecting; persisted state is flushed. */
  async close(): Promise<void> {
    this.closes++;
    this.setState("closed", {});
    this.dropSocket(1000, "client closed");
    for (const k of Object.keys(this.timers) as (keyof typeof this.timers)[]) clearTimeout(this.timers[k] as number);
    this.timers.gap = 0; // scheduleGapFill tests it: a later start() fills gaps again
    await Promise.allSettled([...this.queueing]);
    await this.flush();
  }

  /** Resolves when everything changed so far is persisted. */
  async flush(): Promise<void> {
    if (this.saveScheduled) {
      this.saveScheduled = false;
      this.save();
    }
    await this.saveChain;
  }

  /** The rooms the client knows, sorted by id. */
  roomList(): RoomState[] {
    return [...this.rooms.values()].map((r) => r.state).sort((a, b) => (a.chatroomId < b.chatroomId ? -1 : 1));
  }

  room(chatroomId: string): RoomState | undefined {
    return this.rooms.get(chatroomId)?.state;
  }

  /** Sends not yet acknowledged, in order. */
  pending(): OutboxEntry[] {
    return this.outbox.map(({ clientMsgId, frame }) => ({ clientMsgId, frame }));
  }

  /**
   * Queues a message (persisted before this returns) and resolves with its ack.
   * The send survives reconnects and restarts (the outbox is in storage) and is
   * stored exactly once (clientMsgId). Refused sends reject with the server's code.
   */
  async send(chatroomId: string, chatMessage: string, opts: { messageType?: string; clientMsgId?: string; replyTo?: number } = {}): Promise<Ack> {
    checkBody(chatMessage);
    const frame: SendMessage = { action: "sendMessage", chatroomId, chatMessage, messageType: opts.messageType ?? this.options.messageType };
    if (opts.replyTo !== undefined) frame.replyTo = opts.replyTo;
    return this.enqueue(frame, opts.clientMsgId);
  }

  /** Replaces the text of your message index (queued like a send; resolves with the edit event's ack). */
  async edit(chatroomId: string, index: number, chatMessage: string, opts: { clientMsgId?: string } = {}): Promise<Ack> {
    checkBody(chatMessage);
    return this.enqueue({ action: "editMessage", chatroomId, index, chatMessage }, opts.clientMsgId);
  }

  /** Deletes message index (its author, or a moderator). */
  async delete(chatroomId: string, index: number, opts: { clientMsgId?: string } = {}): Promise<Ack> {
    return this.enqueue({ action: "deleteMessage", chatroomId, index }, opts.clientMsgId);
  }

  /** Adds a reaction to message index, or with remove takes yours back. */
  async react(chatroomId: string, index: number, reaction: string, opts: { remove?: boolean; clientMsgId?: string } = {}): Promise<Ack> {
    if (!reaction) throw new TripsenseError("bad_request", "reaction must not be empty");
    const frame: React = { action: "react", chatroomId, index, reaction };
    if (opts.remove) frame.remove = true;
    return this.enqueue(frame, opts.clientMsgId);
  }

  // ---- rooms (HTTP API; not queued: they need the server, and reject offline) ----

  /** Creates a room (POST /v1/rooms): the caller owns it, and it and members join it. */
  async createRoom(opts: { name: string; chatroomId?: string; members?: string[] }): Promise<RoomInfo> {
    const body: Record<string, unknown> = { name: opts.name };
    if (opts.chatroomId !== undefined) body.chatroomId = opts.chatroomId;
    if (opts.members !== undefined) body.members = opts.members;
    return (await this.request("POST", "/v1/rooms", body, this.options.httpTimeoutMs, false)) as unknown as RoomInfo;
  }

  /**
   * Renames a room, hands it to another member, or both (PATCH /v1/rooms/{room}: its owner or an
   * admin). Nothing changes when any part is refused (forbidden, conflict: the new owner is no member).
   */
  async updateRoom(chatroomId: string, change: { name?: string; owner?: string }): Promise<RoomInfo> {
    const body: Record<string, unknown> = {};
    if (change.name !== undefined) body.name = change.name;
    if (change.owner !== undefined) body.owner = change.owner;
    return (await this.request("PATCH", `/v1/rooms/${encodeURIComponent(chatroomId)}`, body, this.options.httpTimeoutMs, false)) as unknown as RoomInfo;
  }

  /** Adds userId to a room (its owner or an admin); the new member's clients catch the room up. */
  async addMember(chatroomId: string, userId: string): Promise<void> {
    await this.request("POST", `/v1/rooms/${encodeURIComponent(chatroomId)}/members`, { userId }, this.options.httpTimeoutMs, false);
  }

  /** Removes userId from a room (its owner, an admin), or leaves it when userId is this client's user. */
  async removeMember(chatroomId: string, userId: string): Promise<void> {
    await this.request("DELETE", `/v1/rooms/${encodeURIComponent(chatroomId)}/members/${encodeURIComponent(userId)}`, undefined, this.options.httpTimeoutMs, false);
  }

  private async enqueue(f: OutboxFrame, id?: string): Promise<Ack> {
    const clientMsgId = id ?? this.newId();
    const frame = { ...f, clientMsgId };
    const p = new Promise<Ack>((resolve, reject) => this.waitFor(clientMsgId, { resolve, reject }));
    p.catch(() => {}); // an app that does not await still gets the error event
    // close() waits for this: a change queued just before close() is in storage when close() resolves.
    const queued = (async () => {
      await this.load();
      this.outbox.push({ clientMsgId, frame });
      await this.persistNow();
    })();
    this.queueing.add(queued);
    try {
      await queued;
    } finally {
      this.queueing.delete(queued);
    }
    this.pump();
    return p;
  }

  /** Waits for the ack of a send queued earlier (also by a previous run). */
  ackOf(clientMsgId: string): Promise<Ack> {
    return new Promise((resolve, reject) => this.waitFor(clientMsgId, { resolve, reject }));
  }

  /** Marks a room read up to index (default: everything held). Debounced; applied locally at once. */
  markRead(chatroomId: string, index?: number): void {
    const r = this.rooms.get(chatroomId);
    if (!r) return;
    const to = Math.min(index ?? r.state.have, r.state.head);
    if (to <= r.state.lastRead && to <= (this.pendingReads.get(chatroomId) ?? 0)) return;
    this.pendingReads.set(chatroomId, Math.max(to, this.pendingReads.get(chatroomId) ?? 0));
    if (to > r.state.lastRead) {
      r.state.lastRead = to;
      r.state.unread = Math.max(0, r.state.head - to);
      this.emit("room", r.state);
    }
    this.scheduleSave();
    clearTimeout(this.timers.read as number);
    this.timers.read = setTimeout(() => this.flushReads(), this.options.markReadDelayMs);
  }

  // ---- connection ----

  private setState(s: ConnectionState, detail: { code?: number; reason?: string; delayMs?: number }): void {
    if (this._state === s) return;
    this._state = s;
    this.emit("state", s, detail);
  }

  private wsURL(token?: string): string {
    const u = new URL("/ws", this.options.url);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    if (token && this.options.tokenTransport === "query") u.searchParams.set("token", token);
    else if (!token && this.options.userId) u.searchParams.set("userId", this.options.userId);
    if (this.device) u.searchParams.set("deviceId", this.device);
    return u.toString();
  }

  private async getToken(): Promise<string | undefined> {
    if (!this.options.token) return undefined;
    const force = this.forceRefresh;
    this.forceRefresh = false;
    const t = await this.options.token({ forceRefresh: force });
    this.currentToken = t;
    this.tokenExp = decodeClaims(t)?.exp;
    const claims = decodeClaims(t);
    if (claims?.sub) this.userIdFromToken = claims.sub;
    return t;
  }

  private connect(): void {
    if (this._state === "closed" || this._state === "replaced" || this._state === "refused") return;
    const gen = ++this.gen;
    this.setState("connecting", {});
    void (async () => {
      let token: string | undefined;
      try {
        token = await this.getToken();
      } catch (e) {
        this.emit("error", new TripsenseError("unauthorized", `token provider failed: ${String(e)}`));
        this.scheduleReconnect(gen, 1006, "no token");
        return;
      }
      if (gen !== this.gen || this._state !== "connecting") return;
      let ws: WebSocketLike;
      try {
        const sub = this.options.subprotocol === undefined ? SUBPROTOCOL : this.options.subprotocol;
        ws = sub ? new this.WS(this.wsURL(token), sub) : new this.WS(this.wsURL(token));
      } catch (e) {
        this.emit("error", new TripsenseError("network", String(e)));
        this.scheduleReconnect(gen, 1006, String(e));
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        if (gen !== this.gen) return;
        if (token && this.options.tokenTransport !== "query") {
          // First-frame authentication: nothing else until the server answers authed
          // (frames before it are refused; a failure closes with 4401).
          this.awaitingAuth = true;
          this.sendFrame({ action: "auth", token });
          return;
        }
        this.opened(gen);
      };
      ws.onmessage = (ev) => {
        if (gen !== this.gen) return;
        this.onFrame(ev.data);
      };
      ws.onerror = () => {};
      ws.onclose = (ev) => {
        if (gen !== this.gen) return;
        this.onClose(gen, ev.code, ev.reason);
      };
    })();
  }

  /** The connection is open (and authenticated): catch up, then send. */
  private opened(gen: number): void {
    this.awaitingAuth = false;
    this.setState("syncing", {});
    this.scheduleTokenRefresh(gen);
    this.startPing(gen);
    this.startSync();
    this.pump();
    this.flushReads();
  }

  private dropSocket(code: number, reason: string): void {
    this.awaitingAuth = false;
    const ws = this.ws;
    this.ws = undefined;
    this.gen++;
    this.syncRound = undefined;
    clearInterval(this.timers.ping as number);
    clearTimeout(this.timers.pong as number);
    this.timers.pong = 0; // startPing arms a deadline only when none is pending
    clearTimeout(this.timers.sync as number);
    clearTimeout(this.timers.refresh as number);
    for (const cancel of [...this.cancels]) cancel(new TripsenseError("closed", `the connection was dropped (${reason || code})`));
    for (const e of this.outbox) delete e.sentGen;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = () => {};
      try {
        ws.close(code, reason);
      } catch {
        /* already closing */
      }
    }
  }

  private onClose(gen: number, code: number, reason: string): void {
    this.ws = undefined;
    this.dropSocket(1000, "");
    if (code === 4000) {
      this.setState("replaced", { code, reason });
      this.emit("error", new TripsenseError("replaced", "another connection of this user took over (close 4000); call start() to take it back"));
      return;
    }
    if (code === 4409 || code === 4400) {
      // Refused for good: the duplicate policy (do not retry in a loop) or a bad request.
      this.setState("refused", { code, reason });
      this.emit("error", new TripsenseError(code === 4409 ? "conflict" : "bad_request", `connection refused (close ${code}): ${reason}; call start() to try again`));
      return;
    }
    if (code === 4003) {
      this.forceRefresh = true; // token expired: fetch a fresh one and reconnect at once
      this.attempt = 0;
    }
    if (code === 4401) {
      this.forceRefresh = true; // refused token: a fresh one, after the backoff
      this.emit("error", new TripsenseError("unauthorized", `connection refused (close 4401): ${reason}`));
    }
    if (code === 4429) {
      // Over the user's connection limit, or the connect rate of this address: wait the longest backoff.
      this.emit("error", new TripsenseError("rate_limited", `connection refused (close 4429): ${reason}`));
      this.attempt = Math.max(this.attempt, 64);
    }
    this.scheduleReconnect(gen, code, reason);
  }

  /** Drops the current socket (if any) and reconnects after the backoff. */
  private scheduleReconnect(gen: number, code: number, reason: string): void {
    if (this._state === "closed" || this._state === "replaced" || this._state === "refused") return;
    if (gen !== this.gen && this.ws) return;
    const delayMs = Math.max(this.backoffMs(this.attempt), this.reconnectNotBefore - Date.now());
    this.reconnectNotBefore = 0;
    this.attempt++;
    this.setState("offline", { code, reason, delayMs });
    clearTimeout(this.timers.reconnect as number);
    this.timers.reconnect = setTimeout(() => this.connect(), delayMs);
  }

  /** The backoff's delay before attempt: min(maxMs, initialMs·factor^attempt), less up to jitter of it. */
  private backoffMs(attempt: number): number {
    const b = this.options.backoff ?? {};
    const initial = b.initialMs ?? 500, max = b.maxMs ?? 30_000, factor = b.factor ?? 2, jitter = b.jitter ?? 0.5;
    const base = Math.min(max, initial * Math.pow(factor, Math.min(attempt, 64)));
    return Math.round(base * (1 - jitter * this.random()));
  }

  /** Closes the current connection as broken and reconnects with backoff. */
  private reconnectNow(reason: string): void {
    const gen = this.gen;
    this.dropSocket(4002, reason);
    this.scheduleReconnect(gen + 1, 1006, reason);
  }

  private startPing(gen: number): void {
    clearInterval(this.timers.ping as number);
    this.timers.ping = setInterval(() => {
      if (gen !== this.gen) return;
      this.sendFrame({ action: "ping" });
      // The deadline runs from the first unanswered ping: a later ping must not push it back
      // (with pingIntervalMs < pongTimeoutMs every ping would, and a dead socket would live on).
      if (this.timers.pong) return;
      this.timers.pong = setTimeout(() => {
        this.timers.pong = 0;
        if (gen === this.gen) this.reconnectNow("no answer to ping");
      }, this.options.pongTimeoutMs);
    }, this.options.pingIntervalMs);
  }

  private scheduleTokenRefresh(gen: number): void {
    clearTimeout(this.timers.refresh as number);
    const exp = this.tokenExp;
    if (!exp || this.options.proactiveRefresh === false) return;
    const left = exp * 1000 - Date.now();
    const delay = Math.max(1000, left - Math.min(this.options.refreshBeforeExpMs, left / 2));
    this.timers.refresh = setTimeout(async () => {
      if (gen !== this.gen) return;
      this.forceRefresh = true;
      if (this.options.tokenTransport === "query") {
        // A token in the URL cannot change on an open socket: reconnect with a fresh one.
        this.dropSocket(1000, "token refresh");
        this.attempt = 0;
        this.connect();
        return;
      }
      try {
        const t = await this.getToken();
        if (gen === this.gen && t) this.sendFrame({ action: "auth", token: t }); // authed reschedules

      } catch (e) {
        this.emit("error", new TripsenseError("unauthorized", `token provider failed: ${String(e)}`));
      }
    }, delay);
  }

  private sendFrame(frame: object): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  // ---- frames ----

  private onFrame(data: unknown): void {
    clearTimeout(this.timers.pong as number); // any frame proves the connection alive
    this.timers.pong = 0;
    let f: Record<string, unknown>;
    try {
      f = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer)) as Record<string, unknown>;
    } catch {
      this.emit("error", new TripsenseError("bad_request", "the server sent a frame that is not JSON"));
      return;
    }
    const room = typeof f.chatroomId === "string" ? f.chatroomId : "";
    switch (f.type) {
      case "message": {
        const { type: _t, ...m } = f;
        this.receive(room, [m as unknown as LogEntry]);
        break;
      }
      case "edit":
      case "delete":
      case "reaction": {
        const { type, ...m } = f;
        this.receive(room, [{ ...(m as unknown as LogEntry), kind: type as string }]);
        break;
      }
      case "messages":
        this.receive(room, f.messages as LogEntry[]);
        break;
      case "ack":
        this.onAck(f as unknown as AckFrame);
        break;
      case "cursor": {
        const r = this.rooms.get(room);
        if (r && typeof f.lastRead === "number") this.setLastRead(r, f.lastRead);
        break;
      }
      case "receipt": {
        const rc = f as { chatroomId: string; userId: string; lastRead: number };
        const r = this.rooms.get(room);
        if (r) {
          r.state.receipts[rc.userId] = Math.max(r.state.receipts[rc.userId] ?? 0, rc.lastRead);
          if (rc.userId === this.userId) this.setLastRead(r, rc.lastRead);
          this.emit("room", r.state);
          this.scheduleSave();
        }
        this.emit("receipt", { chatroomId: rc.chatroomId, userId: rc.userId, lastRead: rc.lastRead });
        break;
      }
      case "member": {
        const m = f as { chatroomId: string; userId: string; event: "joined" | "left" | "owner"; index?: number; by?: string };
        const self = m.userId === this.userId;
        if (self && m.event === "left" && !this.rooms.has(room)) break; // a room it never held
        if (typeof m.index === "number") {
          // An entry of the room's log, also one's own join (its place in the new room): delivered,
          // and so raised as "member", in index order like every entry.
          const { type: _t, ...e } = f;
          this.receive(room, [{ ...(e as unknown as LogEntry), kind: "member" }]);
        } else {
          this.emit("member", { chatroomId: room, userId: m.userId, event: m.event }); // an erasure: not in the log
        }
        if (self) {
          if (m.event === "left") {
            // The last entry of the room for this user: nothing before it can be caught up any more.
            if (typeof m.index === "number" && (this.rooms.get(room)?.state.have ?? 0) < m.index) this.emit("member", { chatroomId: room, userId: m.userId, event: m.event, index: m.index, ...(m.by !== undefined && { by: m.by }) });
            this.removeRoom(room);
          } else if (m.event === "joined") {
            this.ensureRoom(room);
            this.requestSync(); // the new room's history, up to this entry
          }
        }
        break;
      }
      case "rename": {
        const { type: _t, ...e } = f;
        this.receive(room, [{ ...(e as unknown as LogEntry), kind: "rename" }]);
        break;
      }
      case "synced":
        this.onSynced(f);
        break;
      case "syncDone":
        if (typeof f.epoch === "string" && this.newEpoch(f.epoch)) {
          if (this.syncRound) this.sendSyncRound(this.syncRound.rounds);
          break;
        }
        this.finishSyncRound();
        break;
      case "authed": {
        const a = f as { userId: string; exp: number };
        if (typeof a.exp === "number") this.tokenExp = a.exp;
        if (typeof a.userId === "string") this.userIdFromToken = a.userId;
        this.emit("authed", { userId: a.userId, exp: a.exp });
        if (this.awaitingAuth) this.opened(this.gen);
        else this.scheduleTokenRefresh(this.gen);
        break;
      }
      case "closing": {
        // AWS: the close code arrives as this frame before the gateway's own close.
        const c = f as { code: number; reason: string };
        if (typeof c.code === "number") {
          this.dropSocket(1000, ""); // close it ourselves: the gateway's close code carries nothing
          this.onClose(this.gen, c.code, typeof c.reason === "string" ? c.reason : "");
        }
        break;
      }
      case "error":
        this.onError(f as unknown as ErrorFrame);
        break;
      default:
        break; // pong, and frame types of newer servers
    }
  }

  private setLastRead(r: Room, lastRead: number): void {
    if (lastRead > r.state.lastRead) {
      r.state.lastRead = lastRead;
      r.state.unread = Math.max(0, r.state.head - lastRead);
      this.emit("room", r.state);
      this.scheduleSave();
    }
  }

  private ensureRoom(id: string): Room {
    let r = this.rooms.get(id);
    if (!r) {
      r = { state: newRoom(id), pending: new Map(), touched: ++this.touchSeq };
      this.rooms.set(id, r);
    }
    return r;
  }

  private removeRoom(id: string): void {
    if (this.rooms.delete(id)) {
      this.pendingReads.delete(id);
      this.emit("roomRemoved", id);
      this.scheduleSave();
    }
  }

  /** Stores entries by (room, index), ignoring held ones, and delivers the contiguous run. */
  private receive(roomId: string, entries: LogEntry[]): void {
    if (!roomId || !Array.isArray(entries)) return;
    const r = this.ensureRoom(roomId);
    for (const e of entries) {
      if (typeof e?.index !== "number" || e.index <= r.state.have || r.pending.has(e.index)) continue;
      r.pending.set(e.index, e);
      if (e.index > r.state.head) {
        r.state.head = e.index;
        r.state.unread = Math.max(0, r.state.head - r.state.lastRead);
      }
    }
    this.drain(r);
  }

  private drain(r: Room): void {
    let delivered = false;
    for (;;) {
      const e = r.pending.get(r.state.have + 1);
      if (!e) break;
      r.pending.delete(e.index);
      applyEntry(r.state, e);
      delivered = true;
      this.emit("event", e, r.state);
      if (e.kind === "member" && (e.event === "joined" || e.event === "left" || e.event === "owner")) {
        this.emit("member", { chatroomId: r.state.chatroomId, userId: e.userId, event: e.event, index: e.index, ...(e.by !== undefined && { by: e.by }) });
      }
    }
    if (delivered) {
      r.touched = ++this.touchSeq;
      this.emit("room", r.state);
      this.scheduleSave();
    }
    if (r.pending.size > 0 || r.state.have < r.state.head) this.scheduleGapFill();
  }

  private scheduleGapFill(): void {
    // A client that will not reconnect by itself keeps no timer: the gap is
    // filled by the sync of its next start.
    if (this.timers.gap || this._state === "closed" || this._state === "replaced" || this._state === "refused" || this._state === "idle") return;
    this.timers.gap = setTimeout(() => {
      this.timers.gap = 0;
      // A gap: entries held above a missing one, or a head (from an ack,
      // GET /v1/rooms or a sync) above what was delivered, e.g. live
      // frames lost with a connection that an ack outlived.
      const gap = [...this.rooms.values()].some((r) => r.pending.size > 0 || r.state.have < r.state.head);
      if (gap && this._state === "online" && !this.syncRound) this.startSync();
      else if (gap) this.scheduleGapFill();
    }, this.options.gapFillMs);
  }

  private onAck(a: AckFrame): void {
    const id = a.clientMsgId;
    if (!id) return;
    const i = this.outbox.findIndex((e) => e.clientMsgId === id);
    const entry = i >= 0 ? this.outbox[i] : undefined;
    if (i >= 0) this.outbox.splice(i, 1);
    const ack: Ack = { chatroomId: a.chatroomId, index: a.index, clientMsgId: id, createTime: a.createTime, duplicate: a.duplicate === true };
    if (entry && this.userId) {
      // The server does not push a sender its own entries: the ack makes them held.
      this.receive(a.chatroomId, [ownEntry(entry.frame, a, this.userId, id)]);
    }
    this.scheduleSave();
    this.emit("ack", ack);
    for (const w of this.waiters.get(id) ?? []) w.resolve(ack);
    this.waiters.delete(id);
    this.pump();
  }

  private onError(f: ErrorFrame): void {
    const err = new TripsenseError(f.code, f.message, { ...(f.action !== undefined && { action: f.action }), ...(f.clientMsgId !== undefined && { clientMsgId: f.clientMsgId }), ...(f.retryAfterMs !== undefined && { retryAfterMs: f.retryAfterMs }) });
    if (f.action === "sync") {
      // The whole sync failed: retry when rate-limited, else fall back to HTTP.
      this.syncRound = undefined;
      clearTimeout(this.timers.sync as number);
      if (f.code === "rate_limited") {
        // Only on this connection: a later one runs its own sync, which a second one would cut short.
        const gen = this.gen;
        setTimeout(() => {
          if (gen === this.gen) this.startSync();
        }, f.retryAfterMs ?? 1000);
      } else void this.httpSync();
      return;
    }
    if (f.action === "markRead" && f.code === "rate_limited") {
      clearTimeout(this.timers.read as number);
      this.timers.read = setTimeout(() => this.flushReads(), f.retryAfterMs ?? 1000);
      return;
    }
    const entry = f.clientMsgId ? this.outbox.find((e) => e.clientMsgId === f.clientMsgId) : undefined;
    if (entry) {
      delete entry.sentGen;
      if (err.retryable) {
        this.pausedUntil = Date.now() + (f.retryAfterMs ?? Math.min(30_000, 500 * 2 ** Math.min(6, this.attempt + 1)));
        clearTimeout(this.timers.pump as number);
        this.timers.pump = setTimeout(() => this.pump(), this.pausedUntil - Date.now());
        return;
      }
      this.outbox.splice(this.outbox.indexOf(entry), 1);
      this.scheduleSave();
      for (const w of this.waiters.get(entry.clientMsgId) ?? []) w.reject(err);
      this.waiters.delete(entry.clientMsgId);
      this.emit("error", err);
      this.pump();
      return;
    }
    this.emit("error", err);
  }

  // ---- outbox ----

  private waitFor(id: string, w: Waiter): void {
    const list = this.waiters.get(id) ?? [];
    list.push(w);
    this.waiters.set(id, list);
  }

  /** Sends outbox entries in order, at most outboxWindow in flight on this socket. */
  private pump(): void {
    if ((this._state !== "syncing" && this._state !== "online") || !this.ws) return;
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) {
      clearTimeout(this.timers.pump as number);
      this.timers.pump = setTimeout(() => this.pump(), wait);
      return;
    }
    let inFlight = 0;
    for (const e of this.outbox) {
      if (e.sentGen === this.gen) {
        inFlight++;
        continue;
      }
      if (inFlight >= this.options.outboxWindow) break;
      if (!this.sendFrame(e.frame)) break;
      e.sentGen = this.gen;
      inFlight++;
    }
  }

  private flushReads(): void {
    if ((this._state !== "syncing" && this._state !== "online") || !this.ws) return;
    for (const [room, index] of this.pendingReads) {
      if (!this.rooms.has(room)) {
        this.pendingReads.delete(room);
        continue;
      }
      if (this.sendFrame({ action: "markRead", chatroomId: room, index })) this.pendingReads.delete(room);
    }
    this.scheduleSave();
  }

  // ---- catch-up ----

  /** Syncs now when online, or right after the round that runs (whose plan may predate a new room). */
  private requestSync(): void {
    if (this.syncRound) this.syncRound.again = true;
    else if (this.httpRound?.gen === this.gen) this.httpRound.again = true;
    else if (this._state === "online") this.startSync();
  }

  private startSync(): void {
    this.syncRound = undefined;
    if (this.options.catchup === "http") void this.httpSync();
    else this.sendSyncRound(0);
  }

  private sendSyncRound(rounds = this.syncRound?.rounds ?? 0): void {
    // Each cursor is "id":have, in the frame {"action":"sync","cursors":{...}}.
    const { cursors, omitted } = this.pickCursors(MAX_SYNC_FRAME_BYTES - 32, (id, have) => utf8Length(JSON.stringify(id)) + String(have).length + 2);
    this.syncRound = { results: new Map(), answered: new Set(), rounds: rounds + 1, known: this.syncRound?.known ?? new Set(this.rooms.keys()), omitted };
    if (!this.sendFrame({ action: "sync", cursors: Object.fromEntries(cursors) })) return;
    const gen = this.gen;
    clearTimeout(this.timers.sync as number);
    this.timers.sync = setTimeout(() => {
      if (gen === this.gen) this.reconnectNow("sync timed out");
    }, this.options.syncTimeoutMs);
  }

  /**
   * The cursors of the next sync: at most MAX_CURSORS, whose encodings (size(id, have) bytes each)
   * fit maxBytes. The rooms a client knows it is short in come first (entries held above a gap, a
   * head above have, a room the last answer left out), then the rooms that had entries delivered
   * most recently. A room left out starts from the device's stored delivered cursor: a quiet room's
   * equals its have; a busy room's may lag (entries sent again, ignored by index) or lead (this install
   * lost what was written to it), and then the answer shows the room short of its head and the next
   * round sends its cursor. No entry is skipped either way.
   */
  private pickCursors(maxBytes: number, size: (id: string, have: number) => number): { cursors: [string, number][]; omitted: string[] } {
    const short = (r: Room) => (r.check === true || r.pending.size > 0 || r.state.have < r.state.head ? 1 : 0);
    const all = [...this.rooms];
    all.sort(([a, x], [b, y]) => short(y) - short(x) || y.touched - x.touched || (a < b ? -1 : a > b ? 1 : 0));
    const cursors: [string, number][] = [];
    const omitted: string[] = [];
    let bytes = 0;
    for (const [id, r] of all) {
      const n = size(id, r.state.have);
      if (cursors.length < MAX_CURSORS && bytes + n <= maxBytes) {
        cursors.push([id, r.state.have]);
        bytes += n;
        r.check = false;
      } else omitted.push(id);
    }
    cursors.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)); // sent in room order, as the server lists rooms
    return { cursors, omitted };
  }

  /**
   * A sync answers every room of the user. A room it was given no cursor for and left out is one the
   * user is no longer in (or one the server's plan did not see yet): mark it, so that the next round
   * sends its cursor and the server says not_member (the room is dropped) or syncs it. True when any.
   */
  private checkOmitted(omitted: string[], answered: { has(id: string): boolean }): boolean {
    let any = false;
    for (const id of omitted) {
      const r = this.rooms.get(id);
      if (r && !answered.has(id)) {
        r.check = true;
        any = true;
      }
    }
    return any;
  }

  private onSynced(f: Record<string, unknown>): void {
    const room = f.chatroomId as string;
    const err = f.error as { code: string; message: string } | undefined;
    this.syncRound?.answered.add(room);
    if (err) {
      if (err.code === "not_member") this.removeRoom(room);
      else this.emit("error", new TripsenseError(err.code as TripsenseError["code"], err.message, { action: "sync" }));
      return;
    }
    this.syncRound?.results.set(room, { head: f.head as number, complete: f.complete as boolean, truncated: f.truncated === true, ...(typeof f.oldest === "number" && { oldest: f.oldest }) });
  }

  /** Applies a round's results: sync again while a room is short of the head it reported. */
  private finishSyncRound(): void {
    const round = this.syncRound;
    if (!round) return;
    clearTimeout(this.timers.sync as number);
    let more = false;
    for (const [id, res] of round.results) {
      const fresh = !round.known.has(id);
      const r = this.ensureRoom(id);
      if (res.truncated && typeof res.oldest === "number") this.truncate(r, res.oldest);
      if (typeof res.head === "number" && res.head > r.state.head) {
        r.state.head = res.head;
        r.state.unread = Math.max(0, r.state.head - r.state.lastRead);
        this.emit("room", r.state);
      }
      if (fresh && this.options.history === "recent" && r.state.have === 0) {
        // Start a room first seen at the first entry the server pushed.
        const first = Math.min(...r.pending.keys(), (res.head ?? 0) + 1);
        r.state.have = first - 1;
        this.drain(r);
      }
      if (res.complete === false || r.state.have < (res.head ?? 0)) more = true;
    }
    if (this.checkOmitted(round.omitted, round.answered)) more = true;
    if ((more || round.again) && round.rounds < MAX_SYNC_ROUNDS) {
      this.sendSyncRound(round.rounds);
      return;
    }
    this.syncRound = undefined;
    this.caughtUp();
  }

  /**
   * Records the server's store epoch. A different one than held (a restore)
   * drops every cursor and held entry (they name other messages now) and
   * returns true: the caller syncs again, from 0.
   */
  private newEpoch(epoch: string): boolean {
    const previous = this.epoch;
    this.epoch = epoch;
    if (previous === undefined || previous === epoch) {
      if (previous === undefined) this.scheduleSave();
      return false;
    }
    for (const [id, r] of this.rooms) {
      r.state = newRoom(id);
      r.pending.clear();
    }
    this.pendingReads.clear();
    clearTimeout(this.timers.gap as number);
    this.timers.gap = 0;
    this.scheduleSave();
    this.emit("reset", { epoch, previous });
    for (const r of this.rooms.values()) this.emit("room", r.state);
    return true;
  }

  private truncate(r: Room, oldest: number): void {
    if (r.state.have < oldest - 1) {
      for (const k of r.pending.keys()) if (k < oldest) r.pending.delete(k);
      r.state.have = oldest - 1;
      r.state.truncatedBefore = oldest;
      this.emit("truncated", { chatroomId: r.state.chatroomId, oldest });
      this.drain(r);
    }
  }

  private caughtUp(): void {
    this.attempt = 0;
    this.setState("online", {});
    this.emit("synced");
    this.scheduleSave();
    this.pump();
    this.flushReads();
    if ([...this.rooms.values()].some((r) => r.pending.size > 0)) this.scheduleGapFill();
    if (this.options.fetchRoomsOnConnect && this.fetchFn) void this.fetchRooms();
  }

  /** One GET of the HTTP API for the current connection: request, bound to it. */
  private async http(path: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    return this.request("GET", path, undefined, timeoutMs, true);
  }

  /**
   * One request of the HTTP API, with body as JSON when given. It ends with a TripsenseError:
   * "timeout" after timeoutMs (when given), "closed" when bound and the connection it belongs to is
   * dropped (close(), a reconnect, a replacement), the server's code for an error status (rate_limited
   * with retryAfterMs from Retry-After or the body's retryAfterMs, at most maxRetryAfterMs), "network"
   * for a request or body that failed. The fetch gets an AbortSignal aborted then; one that ignores it
   * is left behind, its answer unread. An app's own call (rooms) is not bound.
   */
  private async request(method: string, path: string, json: unknown, timeoutMs: number | undefined, bound: boolean): Promise<Record<string, unknown>> {
    if (!this.fetchFn) throw new TripsenseError("network", "no fetch implementation: pass options.fetch");
    const headers: Record<string, string> = {};
    if (this.options.token) headers.Authorization = `Bearer ${this.currentToken ?? (await this.getToken())}`;
    else if (this.options.userId) headers["X-User-Id"] = this.options.userId;
    if (json !== undefined) headers["Content-Type"] = "application/json";
    const Ctl = (globalThis as { AbortController?: typeof AbortController }).AbortController;
    const ctl = typeof Ctl === "function" ? new Ctl() : undefined;
    let reason: TripsenseError | undefined;
    let stop!: (e: TripsenseError) => void;
    const stopped = new Promise<never>((_, reject) => (stop = reject));
    stopped.catch(() => {});
    const cancel = (e: TripsenseError) => {
      if (reason) return;
      reason = e;
      stop(e);
      try {
        ctl?.abort(e);
      } catch {
        /* an AbortController that cannot abort with a reason */
      }
    };
    if (bound) this.cancels.add(cancel);
    const route = path.split("?")[0];
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => cancel(new TripsenseError("timeout", `${route}: no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      let resp: FetchResponseLike;
      try {
        const init = { method, headers, ...(json !== undefined && { body: JSON.stringify(json) }), ...(ctl && { signal: ctl.signal }) };
        resp = await Promise.race([this.fetchFn(new URL(path, this.options.url).toString(), init), stopped]);
      } catch (e) {
        throw reason ?? new TripsenseError("network", String(e));
      }
      let body: Record<string, unknown> | undefined;
      try {
        const b = await Promise.race([resp.json(), stopped]);
        if (b !== null && typeof b === "object") body = b as Record<string, unknown>;
      } catch (e) {
        if (reason) throw reason;
        if (!(e instanceof SyntaxError)) throw new TripsenseError("network", String(e), { status: resp.status }); // the body broke off
      }
      if (resp.status < 200 || resp.status > 299 || !body) {
        // A body that is not a JSON object (a proxy's HTML error page) says only its status.
        const e = (body?.error ?? {}) as { code?: string; message?: string; retryAfterMs?: unknown };
        if (resp.status === 401) this.forceRefresh = true;
        const code = e.code ?? (resp.status === 429 ? "rate_limited" : "internal");
        const wait = resp.status === 429 || resp.status === 503 ? this.retryAfter(resp, e.retryAfterMs) : undefined;
        throw new TripsenseError(code as TripsenseError["code"], e.message ?? `HTTP ${resp.status}${body ? "" : ": the body is not a JSON object"}`, { status: resp.status, ...(wait !== undefined && { retryAfterMs: wait }) });
      }
      return body;
    } finally {
      clearTimeout(timer);
      this.cancels.delete(cancel);
    }
  }

  /**
   * How long the server asked to wait: the longer of the Retry-After header (seconds or an HTTP date)
   * and the error body's retryAfterMs, at most maxRetryAfterMs; undefined when it said nothing.
   */
  private retryAfter(resp: FetchResponseLike, bodyMs: unknown): number | undefined {
    let ms: number | undefined;
    const h = resp.headers?.get?.("Retry-After")?.trim();
    if (h && /^\d+$/.test(h)) ms = Number(h) * 1000;
    else if (h) {
      const t = Date.parse(h);
      if (!Number.isNaN(t)) ms = Math.max(0, t - Date.now());
    }
    if (typeof bodyMs === "number" && Number.isFinite(bodyMs) && bodyMs >= 0) ms = Math.max(ms ?? 0, bodyMs);
    return ms === undefined ? undefined : Math.min(ms, this.options.maxRetryAfterMs);
  }

  /** Resolves after ms, or rejects with "closed" when the connection is dropped first. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const cancel = (e: TripsenseError) => {
        clearTimeout(timer);
        this.cancels.delete(cancel);
        reject(e);
      };
      const timer = setTimeout(() => {
        this.cancels.delete(cancel);
        resolve();
      }, ms);
      this.cancels.add(cancel);
    });
  }

  /**
   * Catch-up over GET /v1/sync from the client's own cursors, paging until every room is complete.
   * A failed page, or one with no answer within syncTimeoutMs, drops the connection: the reconnect
   * (with backoff, which only a finished catch-up resets) syncs again.
   */
  private async httpSync(): Promise<void> {
    const gen = this.gen;
    const run = (this.httpRound = { gen, again: false });
    try {
      for (let round = 0; round < MAX_SYNC_ROUNDS; round++) {
        run.again = false;
        // The cursors go in the URL: within MAX_AFTER_BYTES, each as room:have, encoded, and a comma (%2C).
        const { cursors, omitted } = this.pickCursors(MAX_AFTER_BYTES, (id, have) => encodeURIComponent(`${id}:${have}`).length + 3);
        const after = cursors.map(([id, have]) => `${id}:${have}`).join(",");
        const device = this.device ? `&deviceId=${encodeURIComponent(this.device)}` : "";
        clearTimeout(this.timers.sync as number);
        this.timers.sync = setTimeout(() => {
          if (gen === this.gen) this.reconnectNow("sync timed out");
        }, this.options.syncTimeoutMs);
        const body = await this.http(`/v1/sync?limit=1000${device}${after ? `&after=${encodeURIComponent(after)}` : ""}`);
        if (gen !== this.gen) return; // a later connection's sync owns the state and the timer now
        clearTimeout(this.timers.sync as number);
        if (typeof body.epoch === "string" && this.newEpoch(body.epoch)) continue; // again, from 0
        let more = false;
        const answered = new Set<string>();
        for (const e of (body.rooms ?? []) as Record<string, unknown>[]) {
          const id = e.chatroomId as string;
          answered.add(id);
          const err = e.error as { code: string; message: string } | undefined;
          if (err) {
            if (err.code === "not_member") this.removeRoom(id);
            continue;
          }
          const fresh = !this.rooms.has(id);
          const r = this.ensureRoom(id);
          if (e.truncated === true && typeof e.oldest === "number") this.truncate(r, e.oldest);
          this.receive(id, (e.messages ?? []) as LogEntry[]);
          const head = e.head as number;
          if (head > r.state.head) {
            r.state.head = head;
            r.state.unread = Math.max(0, r.state.head - r.state.lastRead);
            this.emit("room", r.state);
          }
          if (fresh && this.options.history === "recent" && r.state.have === 0) {
            r.state.have = (e.lastSeen as number) ?? 0;
            this.receive(id, (e.messages ?? []) as LogEntry[]);
          }
          if (e.complete === false || r.state.have < head) more = true;
        }
        if (this.checkOmitted(omitted, answered)) more = true;
        if (!more && !run.again) break;
      }
      if (gen === this.gen) this.caughtUp();
    } catch (e) {
      if (gen !== this.gen) return;
      const err = e instanceof TripsenseError ? e : new TripsenseError("network", String(e));
      this.emit("error", err);
      // A 429 (or 503) said how long to wait: the reconnect waits at least that, whatever the backoff.
      if (err.retryAfterMs !== undefined) this.reconnectNotBefore = Date.now() + err.retryAfterMs;
      this.reconnectNow("catch-up failed");
    } finally {
      if (this.httpRound === run) this.httpRound = undefined;
    }
  }

  /** lastRead, head and receipts of every room, from the HTTP API. */
  private async fetchRooms(): Promise<void> {
    const gen = this.gen;
    // Each request has its deadline (httpTimeoutMs); one answered 429 waits what the server said (at
    // least the backoff) and is asked again, at most MAX_RATE_LIMIT_WAITS times in this pass.
    let waits = 0;
    const get = async (path: string): Promise<Record<string, unknown>> => {
      for (;;) {
        try {
          return await this.http(path, this.options.httpTimeoutMs);
        } catch (e) {
          if (!(e instanceof TripsenseError) || e.code !== "rate_limited" || waits >= MAX_RATE_LIMIT_WAITS || gen !== this.gen) throw e;
          await this.pause(Math.max(e.retryAfterMs ?? 0, this.backoffMs(waits++)));
        }
      }
    };
    try {
      const body = await get("/v1/rooms");
      if (gen !== this.gen) return;
      for (const e of (body.rooms ?? []) as { chatroomId: string; head: number; lastRead: number }[]) {
        const r = this.ensureRoom(e.chatroomId);
        if (e.head > r.state.head) {
          r.state.head = e.head;
          this.scheduleGapFill();
        }
        this.setLastRead(r, Math.max(e.lastRead, this.pendingReads.get(e.chatroomId) ?? 0));
        r.state.unread = Math.max(0, r.state.head - r.state.lastRead);
        const rc = await get(`/v1/rooms/${encodeURIComponent(e.chatroomId)}/receipts`);
        if (gen !== this.gen) return;
        for (const x of (rc.receipts ?? []) as { userId: string; lastRead: number }[]) {
          r.state.receipts[x.userId] = Math.max(r.state.receipts[x.userId] ?? 0, x.lastRead);
        }
        this.emit("room", r.state);
        if (r.state.have < r.state.head && r.pending.size === 0) this.scheduleGapFill();
      }
      this.scheduleSave();
    } catch (e) {
      if (gen !== this.gen) return; // dropped meanwhile (its requests were aborted): the next catch-up asks again
      this.emit("error", e instanceof TripsenseError ? e : new TripsenseError("network", String(e)));
    }
  }

  // ---- persistence ----

  private load(): Promise<void> {
    this.loaded ??= (async () => {
      const raw = await this.storage.get("tripsense:state");
      if (raw) {
        const s = JSON.parse(raw) as { rooms?: Record<string, { state: RoomState; pending: LogEntry[]; touched?: number }>; reads?: Record<string, number>; epoch?: string };
        if (typeof s.epoch === "string") this.epoch = s.epoch;
        for (const [id, r] of Object.entries(s.rooms ?? {})) {
          const touched = typeof r.touched === "number" ? r.touched : 0; // state saved before touched existed: 0
          this.touchSeq = Math.max(this.touchSeq, touched);
          this.rooms.set(id, { state: r.state, pending: new Map(r.pending.map((e) => [e.index, e])), touched });
        }
        for (const [id, n] of Object.entries(s.reads ?? {})) this.pendingReads.set(id, n);
      }
      const ob = await this.storage.get("tripsense:outbox");
      if (ob) this.outbox = (JSON.parse(ob) as OutboxEntry[]).map(({ clientMsgId, frame }) => ({ clientMsgId, frame }));
      this.device = this.options.deviceId ?? (await this.storage.get("tripsense:deviceId")) ?? undefined;
      if (!this.device) {
        this.device = randomId();
        await this.storage.set("tripsense:deviceId", this.device);
      }
    })();
    return this.loaded;
  }

  private scheduleSave(): void {
    if (this.saveScheduled) return;
    this.saveScheduled = true;
    setTimeout(() => {
      if (!this.saveScheduled) return;
      this.saveScheduled = false;
      this.save();
    }, 0);
  }

  private save(): void {
    const rooms: Record<string, { state: RoomState; pending: LogEntry[]; touched: number }> = {};
    for (const [id, r] of this.rooms) rooms[id] = { state: r.state, pending: [...r.pending.values()], touched: r.touched };
    const state = JSON.stringify({ rooms, reads: Object.fromEntries(this.pendingReads), ...(this.epoch !== undefined && { epoch: this.epoch }) });
    const outbox = JSON.stringify(this.outbox.map(({ clientMsgId, frame }) => ({ clientMsgId, frame })));
    this.saveChain = this.saveChain
      .then(async () => {
        await this.storage.set("tripsense:state", state);
        await this.storage.set("tripsense:outbox", outbox);
      })
      .catch((e) => this.emit("error", new TripsenseError("internal", `storage: ${String(e)}`)));
  }

  private async persistNow(): Promise<void> {
    this.saveScheduled = false;
    this.save();
    await this.saveChain;
  }

  private newId(): string {
    return uuidv7(Date.now(), (bytes) => {
      const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
      if (c?.getRandomValues && !this.options.random) c.getRandomValues(bytes);
      else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(this.random() * 256);
    });
  }
}

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits.
 * The ids of one client sort by the time they were made, so the server's
 * dedupe records of a sender land next to each other (a random UUIDv4 costs
 * the server's index a page write of its own per send, docs/protocol.md).
 */
export function uuidv7(ms: number, fill: (bytes: Uint8Array) => void): string {
  const b = new Uint8Array(16);
  fill(b);
  let t = Math.max(0, Math.floor(ms));
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70; // version 7
  b[8] = (b[8] & 0x3f) | 0x80; // variant 10
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const SUBPROTOCOL = "tripsense.v1";

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

function checkBody(chatMessage: string): void {
  if (!chatMessage) throw new TripsenseError("bad_request", "chatMessage must not be empty");
  if (new TextEncoder().encode(chatMessage).length > MAX_CHAT_MESSAGE_BYTES) throw new TripsenseError("too_large", `chatMessage is over ${MAX_CHAT_MESSAGE_BYTES} bytes`);
}

/** The log entry of one's own acknowledged change (the server does not push it back). */
function ownEntry(frame: OutboxFrame, a: AckFrame, userId: string, clientMsgId: string): LogEntry {
  const base = { chatroomId: a.chatroomId, index: a.index, userId, createTime: a.createTime, clientMsgId };
  switch (frame.action) {
    case "sendMessage":
      return { ...base, kind: "message", chatMessage: frame.chatMessage, messageType: frame.messageType, ...(frame.replyTo !== undefined && { replyTo: frame.replyTo }) };
    case "editMessage":
      return { ...base, kind: "edit", target: frame.index, chatMessage: frame.chatMessage };
    case "deleteMessage":
      return { ...base, kind: "delete", target: frame.index };
    case "react":
      return { ...base, kind: "reaction", target: frame.index, reaction: frame.reaction, remove: frame.remove === true };
  }
}

/** A random id for this install's device (never the seeded test random: two clients must not share it). */
function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  let s = "";
  for (let i = 0; i < 32; i++) s += Math.floor(Math.random() * 16).toString(16);
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

/** The claims of a JWT, unverified (the client only reads exp and sub). */
export function decodeClaims(token: string): { sub?: string; exp?: number } | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)))) as { sub?: string; exp?: number };
  } catch {
    return undefined;
  }
}
