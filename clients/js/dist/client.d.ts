import { TripsenseError } from "./errors.js";
import type { DeleteMessage, EditMessage, React, SendMessage } from "./protocol.js";
import { type LogEntry, type RoomState } from "./state.js";
import { type StorageAdapter } from "./storage.js";
/** The connection's state, as the app shows it. */
export type ConnectionState = "idle" | "connecting" | "syncing" | "online" | "offline" | "replaced" | "refused" | "closed";
/** The part of the WebSocket API the client uses (browsers' WebSocket, the `ws` package). */
export interface WebSocketLike {
    readonly readyState: number;
    send(data: string): void;
    close(code?: number, reason?: string): void;
    onopen: ((ev: unknown) => void) | null;
    onmessage: ((ev: {
        data: unknown;
    }) => void) | null;
    onclose: ((ev: {
        code: number;
        reason: string;
    }) => void) | null;
    onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;
/**
 * The part of fetch the client uses (globalThis.fetch fits). The client passes an AbortSignal when the
 * platform has AbortController, and aborts it on the request's deadline and when its connection is
 * dropped; a fetch that ignores it still works (the client stops waiting for it). headers is read for a
 * 429's Retry-After; a response without it is fine.
 */
export type FetchLike = (input: string, init?: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    signal?: AbortSignal;
}) => Promise<FetchResponseLike>;
export interface FetchResponseLike {
    status: number;
    json(): Promise<unknown>;
    headers?: {
        get(name: string): string | null;
    };
}
/** Supplies a token (token mode). forceRefresh: the last one was refused or expired. */
export type TokenProvider = (opts: {
    forceRefresh: boolean;
}) => string | Promise<string>;
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
    backoff?: {
        initialMs?: number;
        maxMs?: number;
        factor?: number;
        jitter?: number;
    };
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
    state: (state: ConnectionState, detail: {
        code?: number;
        reason?: string;
        delayMs?: number;
    }) => void;
    /** Every log entry of a room, exactly once, in index order. */
    event: (entry: LogEntry, room: RoomState) => void;
    /** A room's state changed (render it). */
    room: (room: RoomState) => void;
    roomRemoved: (chatroomId: string) => void;
    receipt: (r: {
        chatroomId: string;
        userId: string;
        lastRead: number;
    }) => void;
    /**
     * A membership change: each membership entry of a room's log once, in index order with the
     * room's other entries (live or from catch-up, like "event"), with its index and who made it;
     * an erasure's member frame, which is not in the log, has no index.
     */
    /** A membership change: joined, left, or owner (the room was handed to userId). */
    member: (m: {
        chatroomId: string;
        userId: string;
        event: "joined" | "left" | "owner";
        index?: number;
        by?: string;
    }) => void;
    truncated: (t: {
        chatroomId: string;
        oldest: number;
    }) => void;
    /** The server's store has a new epoch (a restore): held state was dropped and is synced again from 0. */
    reset: (r: {
        epoch: string;
        previous: string;
    }) => void;
    /** The server accepted a token (first frame or refresh): the connection lives until exp (Unix seconds). */
    authed: (a: {
        userId: string;
        exp: number;
    }) => void;
    ack: (ack: Ack) => void;
    synced: () => void;
    error: (err: TripsenseError) => void;
}
/**
 * A Tripsense client: one WebSocket with reconnect, a persistent outbox,
 * catch-up from its own cursors and exactly-once, in-order delivery per room.
 */
export declare class TripsenseClient {
    readonly options: Required<Pick<ClientOptions, "history" | "catchup" | "pingIntervalMs" | "pongTimeoutMs" | "syncTimeoutMs" | "httpTimeoutMs" | "maxRetryAfterMs" | "gapFillMs" | "markReadDelayMs" | "refreshBeforeExpMs" | "outboxWindow" | "messageType" | "fetchRoomsOnConnect">> & ClientOptions;
    private readonly storage;
    private readonly WS;
    private readonly fetchFn?;
    private readonly random;
    private readonly listeners;
    private rooms;
    private touchSeq;
    private outbox;
    private waiters;
    private pendingReads;
    private _state;
    private ws?;
    private gen;
    private attempt;
    private forceRefresh;
    private currentToken?;
    private tokenExp?;
    private awaitingAuth;
    private epoch?;
    private device?;
    private userIdFromToken?;
    private syncRound?;
    private httpRound?;
    private pausedUntil;
    private reconnectNotBefore;
    private cancels;
    private timers;
    private loaded?;
    private saveChain;
    private saveScheduled;
    private queueing;
    private starting?;
    private closes;
    constructor(options: ClientOptions);
    /** The user this client acts as. */
    get userId(): string | undefined;
    get state(): ConnectionState;
    /** Subscribes to an event; returns the unsubscribe function. */
    on<K extends keyof Events>(event: K, fn: Events[K]): () => void;
    private emit;
    /**
     * Loads the persisted state and connects. Resolves once the state is loaded. Also takes the
     * connection back after "replaced", "refused" or close(); on a running client it does nothing.
     */
    start(): Promise<void>;
    private networkWatched;
    /** Browsers say when the network goes and comes back: act on it instead of waiting for a ping to fail. */
    private watchNetwork;
    /** Closes the connection and stops reconnecting; persisted state is flushed. */
    close(): Promise<void>;
    /** Resolves when everything changed so far is persisted. */
    flush(): Promise<void>;
    /** The rooms the client knows, sorted by id. */
    roomList(): RoomState[];
    room(chatroomId: string): RoomState | undefined;
    /** Sends not yet acknowledged, in order. */
    pending(): OutboxEntry[];
    /**
     * Queues a message (persisted before this returns) and resolves with its ack.
     * The send survives reconnects and restarts (the outbox is in storage) and is
     * stored exactly once (clientMsgId). Refused sends reject with the server's code.
     */
    send(chatroomId: string, chatMessage: string, opts?: {
        messageType?: string;
        clientMsgId?: string;
        replyTo?: number;
    }): Promise<Ack>;
    /** Replaces the text of your message index (queued like a send; resolves with the edit event's ack). */
    edit(chatroomId: string, index: number, chatMessage: string, opts?: {
        clientMsgId?: string;
    }): Promise<Ack>;
    /** Deletes message index (its author, or a moderator). */
    delete(chatroomId: string, index: number, opts?: {
        clientMsgId?: string;
    }): Promise<Ack>;
    /** Adds a reaction to message index, or with remove takes yours back. */
    react(chatroomId: string, index: number, reaction: string, opts?: {
        remove?: boolean;
        clientMsgId?: string;
    }): Promise<Ack>;
    /** Creates a room (POST /v1/rooms): the caller owns it, and it and members join it. */
    createRoom(opts: {
        name: string;
        chatroomId?: string;
        members?: string[];
    }): Promise<RoomInfo>;
    /**
     * Renames a room, hands it to another member, or both (PATCH /v1/rooms/{room}: its owner or an
     * admin). Nothing changes when any part is refused (forbidden, conflict: the new owner is no member).
     */
    updateRoom(chatroomId: string, change: {
        name?: string;
        owner?: string;
    }): Promise<RoomInfo>;
    /** Adds userId to a room (its owner or an admin); the new member's clients catch the room up. */
    addMember(chatroomId: string, userId: string): Promise<void>;
    /** Removes userId from a room (its owner, an admin), or leaves it when userId is this client's user. */
    removeMember(chatroomId: string, userId: string): Promise<void>;
    private enqueue;
    /** Waits for the ack of a send queued earlier (also by a previous run). */
    ackOf(clientMsgId: string): Promise<Ack>;
    /** Marks a room read up to index (default: everything held). Debounced; applied locally at once. */
    markRead(chatroomId: string, index?: number): void;
    private setState;
    private wsURL;
    private getToken;
    private connect;
    /** The connection is open (and authenticated): catch up, then send. */
    private opened;
    private dropSocket;
    private onClose;
    /** Drops the current socket (if any) and reconnects after the backoff. */
    private scheduleReconnect;
    /** The backoff's delay before attempt: min(maxMs, initialMs·factor^attempt), less up to jitter of it. */
    private backoffMs;
    /** Closes the current connection as broken and reconnects with backoff. */
    private reconnectNow;
    private startPing;
    private scheduleTokenRefresh;
    private sendFrame;
    private onFrame;
    private setLastRead;
    private ensureRoom;
    private removeRoom;
    /** Stores entries by (room, index), ignoring held ones, and delivers the contiguous run. */
    private receive;
    private drain;
    private scheduleGapFill;
    private onAck;
    private onError;
    private waitFor;
    /** Sends outbox entries in order, at most outboxWindow in flight on this socket. */
    private pump;
    private flushReads;
    /** Syncs now when online, or right after the round that runs (whose plan may predate a new room). */
    private requestSync;
    private startSync;
    private sendSyncRound;
    /**
     * The cursors of the next sync: at most MAX_CURSORS, whose encodings (size(id, have) bytes each)
     * fit maxBytes. The rooms a client knows it is short in come first (entries held above a gap, a
     * head above have, a room the last answer left out), then the rooms that had entries delivered
     * most recently. A room left out starts from the device's stored delivered cursor: a quiet room's
     * equals its have; a busy room's may lag (entries sent again, ignored by index) or lead (this install
     * lost what was written to it), and then the answer shows the room short of its head and the next
     * round sends its cursor. No entry is skipped either way.
     */
    private pickCursors;
    /**
     * A sync answers every room of the user. A room it was given no cursor for and left out is one the
     * user is no longer in (or one the server's plan did not see yet): mark it, so that the next round
     * sends its cursor and the server says not_member (the room is dropped) or syncs it. True when any.
     */
    private checkOmitted;
    private onSynced;
    /** Applies a round's results: sync again while a room is short of the head it reported. */
    private finishSyncRound;
    /**
     * Records the server's store epoch. A different one than held (a restore)
     * drops every cursor and held entry (they name other messages now) and
     * returns true: the caller syncs again, from 0.
     */
    private newEpoch;
    private truncate;
    private caughtUp;
    /** One GET of the HTTP API for the current connection: request, bound to it. */
    private http;
    /**
     * One request of the HTTP API, with body as JSON when given. It ends with a TripsenseError:
     * "timeout" after timeoutMs (when given), "closed" when bound and the connection it belongs to is
     * dropped (close(), a reconnect, a replacement), the server's code for an error status (rate_limited
     * with retryAfterMs from Retry-After or the body's retryAfterMs, at most maxRetryAfterMs), "network"
     * for a request or body that failed. The fetch gets an AbortSignal aborted then; one that ignores it
     * is left behind, its answer unread. An app's own call (rooms) is not bound.
     */
    private request;
    /**
     * How long the server asked to wait: the longer of the Retry-After header (seconds or an HTTP date)
     * and the error body's retryAfterMs, at most maxRetryAfterMs; undefined when it said nothing.
     */
    private retryAfter;
    /** Resolves after ms, or rejects with "closed" when the connection is dropped first. */
    private pause;
    /**
     * Catch-up over GET /v1/sync from the client's own cursors, paging until every room is complete.
     * A failed page, or one with no answer within syncTimeoutMs, drops the connection: the reconnect
     * (with backoff, which only a finished catch-up resets) syncs again.
     */
    private httpSync;
    /** lastRead, head and receipts of every room, from the HTTP API. */
    private fetchRooms;
    private load;
    private scheduleSave;
    private save;
    private persistNow;
    private newId;
}
/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits.
 * The ids of one client sort by the time they were made, so the server's
 * dedupe records of a sender land next to each other (a random UUIDv4 costs
 * the server's index a page write of its own per send, docs/protocol.md).
 */
export declare function uuidv7(ms: number, fill: (bytes: Uint8Array) => void): string;
/** The claims of a JWT, unverified (the client only reads exp and sub). */
export declare function decodeClaims(token: string): {
    sub?: string;
    exp?: number;
} | undefined;
export {};
