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
/** A stored message as a catch-up entry (messages frames, GET /v1/sync) in its current state; history adds reactions. */
export interface Message {
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    kind: "message";
    chatMessage?: string;
    messageType: string;
    createTime: Time;
    clientMsgId?: ClientMsgId;
    /** The index of the message this one replies to. */
    replyTo?: Index;
    /** Catch-up and history: the message was edited; chatMessage is its latest text. */
    edited?: true;
    editedAt?: Time;
    /** Catch-up and history: the message was deleted; it has no chatMessage. */
    deleted?: true;
    deletedBy?: UserId;
    deletedAt?: Time;
    /** History only: reaction counts. */
    reactions?: Record<string, number>;
}
/** An edit of message target (catch-up entry). */
export interface EditEntry {
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    kind: "edit";
    target: Index;
    chatMessage?: string;
    /** The target was deleted later: the edit's text is gone. */
    deleted?: true;
    createTime: Time;
    clientMsgId?: ClientMsgId;
}
/** A deletion of message target (catch-up entry). */
export interface DeleteEntry {
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    kind: "delete";
    target: Index;
    createTime: Time;
    clientMsgId?: ClientMsgId;
}
/** A reaction added (remove false) or taken back on message target (catch-up entry). */
export interface ReactionEntry {
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    kind: "reaction";
    target: Index;
    reaction: string;
    remove: boolean;
    createTime: Time;
    clientMsgId?: ClientMsgId;
}
/** A catch-up entry: a message or an event, told apart by kind. */
export type Entry = Message | EditEntry | DeleteEntry | ReactionEntry | MemberEntry | RenameEntry;
export interface SendMessage {
    action: "sendMessage";
    userId?: UserId;
    chatroomId: RoomId;
    chatMessage: string;
    messageType: string;
    clientMsgId?: ClientMsgId;
    /** The index of the message this one replies to. */
    replyTo?: Index;
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
/** Replace the text of your message index. */
export interface EditMessage {
    action: "editMessage";
    userId?: UserId;
    chatroomId: RoomId;
    index: Index;
    chatMessage: string;
    clientMsgId?: ClientMsgId;
}
/** Delete message index (its author or a moderator). */
export interface DeleteMessage {
    action: "deleteMessage";
    userId?: UserId;
    chatroomId: RoomId;
    index: Index;
    clientMsgId?: ClientMsgId;
}
/** Add (or with remove true take back) a reaction to message index. */
export interface React {
    action: "react";
    userId?: UserId;
    chatroomId: RoomId;
    index: Index;
    reaction: string;
    remove?: boolean;
    clientMsgId?: ClientMsgId;
}
/** Authenticate a connection opened without credentials (first frame), or refresh its token in place. */
export interface Auth {
    action: "auth";
    userId?: UserId;
    token: string;
}
export type ClientFrame = SendMessage | EditMessage | DeleteMessage | React | MarkRead | Sync | Ping | Auth;
/** A stored message pushed live. */
export interface MessageFrame {
    type: "message";
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    chatMessage?: string;
    messageType: string;
    createTime: Time;
    clientMsgId?: ClientMsgId;
    /** The index of the message this one replies to. */
    replyTo?: Index;
    /** Catch-up and history: the message was edited; chatMessage is its latest text. */
    edited?: true;
    editedAt?: Time;
    /** Catch-up and history: the message was deleted; it has no chatMessage. */
    deleted?: true;
    deletedBy?: UserId;
    deletedAt?: Time;
}
/** An edit of message target pushed live. */
export interface EditFrame {
    type: "edit";
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    target: Index;
    chatMessage: string;
    createTime: Time;
    clientMsgId?: ClientMsgId;
}
/** A deletion of message target pushed live. */
export interface DeleteFrame {
    type: "delete";
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    target: Index;
    createTime: Time;
    clientMsgId?: ClientMsgId;
}
/** A reaction on message target pushed live. */
export interface ReactionFrame {
    type: "reaction";
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    target: Index;
    reaction: string;
    remove: boolean;
    createTime: Time;
    clientMsgId?: ClientMsgId;
}
/** A batch of one room's catch-up entries (messages and events) pushed by a sync, in index order without gaps. */
export interface MessagesFrame {
    type: "messages";
    chatroomId: RoomId;
    messages: Entry[];
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
/** Membership of a room changed: an entry of the room's log (index, by, createTime), or, for an erasure, a frame without index. */
export interface MemberFrame {
    type: "member";
    chatroomId: RoomId;
    userId: UserId;
    event: "joined" | "left" | "owner";
    index?: Index;
    /** Who made the change: a user id, or "" for the admin CLI. */
    by?: string;
    createTime?: Time;
    clientMsgId?: ClientMsgId;
}
/** Ends one room of a sync: complete, incomplete with next, or the room's error. */
export interface SyncedFrame {
    type: "synced";
    chatroomId: RoomId;
    head?: Cursor;
    complete?: boolean;
    next?: Cursor;
    error?: ErrorObject;
    /** Retention removed entries after the cursor: the sync started at oldest. */
    truncated?: true;
    oldest?: Index;
}
export interface SyncDoneFrame {
    type: "syncDone";
    /** The store's epoch (the single binary's store; on AWS derived from the messages table): a new one means drop cursors and sync from 0. */
    epoch?: string;
}
export interface PongFrame {
    type: "pong";
}
/** The answer to an auth frame: the connection lives until exp (Unix seconds). */
export interface AuthedFrame {
    type: "authed";
    userId: UserId;
    exp: number;
}
/** AWS only: the close code and reason, sent before the server deletes the connection; act on it as on that close code. */
export interface ClosingFrame {
    type: "closing";
    code: number;
    reason: string;
}
export interface ErrorFrame {
    type: "error";
    code: ErrorCode;
    message: string;
    action?: string;
    clientMsgId?: ClientMsgId;
    retryAfterMs?: number;
}
export type ServerFrame = MessageFrame | EditFrame | DeleteFrame | ReactionFrame | MessagesFrame | AckFrame | CursorFrame | ReceiptFrame | MemberFrame | RenameFrame | SyncedFrame | SyncDoneFrame | AuthedFrame | PongFrame | ClosingFrame | ErrorFrame;
/** The room was renamed (an entry of the room's log). */
export interface RenameFrame {
    type: "rename";
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    name: string;
    createTime: Time;
    clientMsgId?: ClientMsgId;
}
/** A membership change (catch-up entry). */
export interface MemberEntry {
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    kind: "member";
    event: "joined" | "left" | "owner";
    by: string;
    createTime: Time;
    clientMsgId?: ClientMsgId;
}
/** A rename of the room (catch-up entry). */
export interface RenameEntry {
    chatroomId: RoomId;
    index: Index;
    userId: UserId;
    kind: "rename";
    name: string;
    createTime: Time;
    clientMsgId?: ClientMsgId;
}
/** The "type" of every server frame of the contract. */
export declare const SERVER_FRAME_TYPES: readonly ["message", "edit", "delete", "reaction", "messages", "ack", "cursor", "receipt", "member", "rename", "synced", "syncDone", "authed", "pong", "closing", "error"];
/** The "action" of every client frame of the contract. */
export declare const CLIENT_ACTIONS: readonly ["sendMessage", "editMessage", "deleteMessage", "react", "markRead", "sync", "ping", "auth"];
/** The server's error codes. */
export declare const ERROR_CODES: readonly ["bad_request", "unknown_action", "not_member", "forbidden", "too_large", "rate_limited", "conflict", "internal", "unauthorized", "not_found", "gone", "unprocessable"];
