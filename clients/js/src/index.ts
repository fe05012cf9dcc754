export { TripsenseClient, decodeClaims, uuidv7 } from "./client.js";
export type { Ack, RoomInfo, ClientOptions, ConnectionState, FetchLike, FetchResponseLike, OutboxEntry, OutboxFrame, TokenProvider, WebSocketConstructor, WebSocketLike } from "./client.js";
export { TripsenseError } from "./errors.js";
export { IndexedDBStorage, MemoryStorage } from "./storage.js";
export type { StorageAdapter } from "./storage.js";
export { applyEntry, kindOf, newRoom } from "./state.js";
export type { ChatMessage, EntryKind, LogEntry, RoomState } from "./state.js";
export * from "./protocol.js";
