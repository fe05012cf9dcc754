import { TripsenseError } from "./errors.js";
import type { SendMessage } from "./protocol.js";
import { type LogEntry, type RoomState } from "./state.js";
import { type StorageAdapter } from "./storage.js";
/** The connection's state, as the app shows it. */
export type ConnectionState = "idle" | "connecting" | "syncing" | "online" | "offline" | "replaced" | "closed";
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
type FetchLike = (input: string, init?: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
}) => Promise<{
    status: number;
    json(): Promise<unknown>;
}>;
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
     * How the token reaches the WebSocket: "frame" sends {"action":"auth","token":T} as the
     * first frame (no token in URLs; needs a server with first-frame auth), "query" uses ?token=.
     */
    tokenTransport?: "frame" | "query";
    /** A WebSocket subprotocol to offer (the server's documented name). */
    subprotocol?: string;
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
    /** A sync round with no syncDone within this drops the connection. */
    syncTimeoutMs?: number;
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
export interface OutboxEntry {
    clientMsgId: string;
    frame: SendMessage;
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
    member: (m: {
        chatroomId: string;
        userId: string;
        event: "joined" | "left";
    }) => void;
    truncated: (t: {
        chatroomId: string;
        oldest: number;
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
    readonly options: Required<Pick<ClientOptions, "history" | "catchup" | "pingIntervalMs" | "pongTimeoutMs" | "syncTimeoutMs" | "gapFillMs" | "markReadDelayMs" | "refreshBeforeExpMs" | "outboxWindow" | "messageType" | "fetchRoomsOnConnect">> & ClientOptions;
    private readonly storage;
    private readonly WS;
    private readonly fetchFn?;
    private readonly random;
    private readonly listeners;
    private rooms;
    private outbox;
    private waiters;
    private pendingReads;
    private _state;
    private ws?;
    private gen;
    private attempt;
    private forceRefresh;
    private currentToken?;
    private userIdFromToken?;
    private syncRound?;
    private pausedUntil;
    private timers;
    private loaded?;
    private saveChain;
    private saveScheduled;
    constructor(options: ClientOptions);
    /** The user this client acts as. */
    get userId(): string | undefined;
    get state(): ConnectionState;
    /** Subscribes to an event; returns the unsubscribe function. */
    on<K extends keyof Events>(event: K, fn: Events[K]): () => void;
    private emit;
    /** Loads the persisted state and connects. Resolves once the state is loaded. */
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
    }): Promise<Ack>;
    /** Waits for the ack of a send queued earlier (also by a previous run). */
    ackOf(clientMsgId: string): Promise<Ack>;
    /** Marks a room read up to index (default: everything held). Debounced; applied locally at once. */
    markRead(chatroomId: string, index?: number): void;
    private setState;
    private wsURL;
    private getToken;
    private connect;
    private dropSocket;
    private onClose;
    /** Drops the current socket (if any) and reconnects after the backoff. */
    private scheduleReconnect;
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
    private startSync;
    private sendSyncRound;
    private onSynced;
    /** Applies a round's results: sync again while a room is short of the head it reported. */
    private finishSyncRound;
    private truncate;
    private caughtUp;
    private http;
    /** Catch-up over GET /v1/sync from the client's own cursors, paging until every room is complete. */
    private httpSync;
    /** lastRead, head and receipts of every room, from the HTTP API. */
    private fetchRooms;
    private load;
    private scheduleSave;
    private save;
    private persistNow;
    private newId;
}
/** The claims of a JWT, unverified (the client only reads exp and sub). */
export declare function decodeClaims(token: string): {
    sub?: string;
    exp?: number;
} | undefined;
export {};
