export { TripsenseClient, decodeClaims, uuidv7 } from "./client.js";
export { TripsenseError } from "./errors.js";
export { IndexedDBStorage, MemoryStorage } from "./storage.js";
export { applyEntry, kindOf, newRoom } from "./state.js";
export * from "./protocol.js";
