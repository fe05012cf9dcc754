/** A room id. */
export type RoomId = string;
/** A user id. */
export type UserId = string;
/** A position in a room's log: 1, 2, 3, ... without gaps. */
export type Index = number;
/** An index or 0 (nothing). */
export type Cursor = number;
/** The client's idempotency key of a send. */
export type ClientMsgId = string;
/** RFC 3339 UTC with milliseconds. */
export type Time = string;
export type ErrorCode = "bad_request" | "unknown_action" | "not_member" | "forbidden" | "too_large" | "rate_limited" | "conflict" | "internal" | "unauthorized" | "not_found" | "gone" | "unprocessable";
export interface ErrorObject {
    code: ErrorCode;
    message: string;
}
/** A stored message, as in message and messages frames (and the HTTP API). */
export interface Message {
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    chatMessage: string;
    messageType: string;
    createTime: Time;
    clientMsgId?: ClientMsgId;
}
export interface SendMessage {
    action: "sendMessage";
    userId?: UserId;
    chatroomId: RoomId;
    chatMessage: string;
    messageType: string;
    clientMsgId?: ClientMsgId;
}
export interface MarkRead {
    action: "markRead";
    userId?: UserId;
    chatroomId: RoomId;
    index: Cursor;
}
export interface Sync {
    action: "sync";
    userId?: UserId;
    cursors?: Record<string, Cursor>;
}
export interface Ping {
    action: "ping";
    userId?: UserId;
}
export type ClientFrame = SendMessage | MarkRead | Sync | Ping;
/** A stored message pushed live. */
export interface MessageFrame {
    type: "message";
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    chatMessage: string;
    messageType: string;
    createTime: Time;
    clientMsgId?: ClientMsgId;
}
/** A batch of one room's messages pushed by a sync, in index order without gaps. */
export interface MessagesFrame {
    type: "messages";
    chatroomId: RoomId;
    messages: Message[];
}
export interface AckFrame {
    type: "ack";
    chatroomId: RoomId;
    index: Index;
    clientMsgId?: ClientMsgId;
    createTime: Time;
    duplicate?: true;
}
export interface CursorFrame {
    type: "cursor";
    chatroomId: RoomId;
    lastRead: Cursor;
}
export interface ReceiptFrame {
    type: "receipt";
    chatroomId: RoomId;
    userId: UserId;
    lastRead: Cursor;
}
export interface MemberFrame {
    type: "member";
    chatroomId: RoomId;
    userId: UserId;
    event: "joined" | "left";
}
/** Ends one room of a sync: complete, incomplete with next, or the room's error. */
export interface SyncedFrame {
    type: "synced";
    chatroomId: RoomId;
    head?: Cursor;
    complete?: boolean;
    next?: Cursor;
    error?: ErrorObject;
}
export interface SyncDoneFrame {
    type: "syncDone";
}
export interface PongFrame {
    type: "pong";
}
export interface ErrorFrame {
    type: "error";
    code: ErrorCode;
    message: string;
    action?: string;
    clientMsgId?: ClientMsgId;
    retryAfterMs?: number;
}
export type ServerFrame = MessageFrame | MessagesFrame | AckFrame | CursorFrame | ReceiptFrame | MemberFrame | SyncedFrame | SyncDoneFrame | PongFrame | ErrorFrame;
/** The "type" of every server frame of the contract. */
export declare const SERVER_FRAME_TYPES: readonly ["message", "messages", "ack", "cursor", "receipt", "member", "synced", "syncDone", "pong", "error"];
/** The "action" of every client frame of the contract. */
export declare const CLIENT_ACTIONS: readonly ["sendMessage", "markRead", "sync", "ping"];
/** The server's error codes. */
export declare const ERROR_CODES: readonly ["bad_request", "unknown_action", "not_member", "forbidden", "too_large", "rate_limited", "conflict", "internal", "unauthorized", "not_found", "gone", "unprocessable"];
