/**
 * The kinds of room-log entries. "message" is today's; "edit", "delete" and
 * "reaction" are the message-lifecycle events of issue 13 (each has a
 * `target` index). An entry without "kind" is a message.
 */
export type EntryKind = "message" | "edit" | "delete" | "reaction" | "member" | "rename" | (string & {});

/**
 * One entry of a room's log, as a message or event frame, a messages batch
 * or GET /v1/sync carry it: the contract's Message, EditEntry, DeleteEntry
 * and ReactionEntry, with "kind" optional (a live frame's "type").
 */
export interface LogEntry {
  chatroomId: string;
  index: number;
  userId: string;
  createTime: string;
  kind?: EntryKind;
  chatMessage?: string;
  messageType?: string;
  clientMsgId?: string;
  replyTo?: number;
  /** A message from catch-up in its current state. */
  edited?: boolean;
  editedAt?: string;
  deleted?: boolean;
  deletedBy?: string;
  deletedAt?: string;
  /** edit, delete, reaction: the index of the message they change. */
  target?: number;
  reaction?: string;
  remove?: boolean;
  /** member: "joined", "left" or "owner" (the room was handed to the entry's user), and who made the change. */
  event?: "joined" | "left" | "owner";
  by?: string;
  /** rename: the room's new name. */
  name?: string;
}

/** A message of a room in its current state (edits, deletion and reactions applied). */
export interface ChatMessage {
  index: number;
  userId: string;
  /** Absent once deleted. */
  chatMessage?: string;
  messageType: string;
  createTime: string;
  clientMsgId?: string;
  replyTo?: number;
  edited?: boolean;
  editedAt?: string;
  deleted?: boolean;
  deletedBy?: string;
  deletedAt?: string;
  /** reaction -> users who reacted with it. */
  reactions: Record<string, string[]>;
}

/** What the app renders for a room. */
export interface RoomState {
  chatroomId: string;
  /** Every entry of the room up to `have` was delivered, in order. */
  have: number;
  /** The highest index the client knows exists. */
  head: number;
  /** The user's read cursor. */
  lastRead: number;
  /** head - lastRead. */
  unread: number;
  /** Messages in index order, in current state. */
  messages: ChatMessage[];
  /** userId -> that member's read cursor. */
  receipts: Record<string, number>;
  /** Set when retention removed entries the client never got: index of the oldest kept one. */
  truncatedBefore?: number;
  /** The room's name, from its latest rename entry. */
  name?: string;
  /**
   * The room's owner, from its latest owner entry (a member entry with event "owner"). Undefined when
   * this client saw none: the room was never handed on (its creator owns it), or retention removed the
   * entry; GET /v1/rooms/{room} tells.
   */
  owner?: string;
}

export function kindOf(e: LogEntry): EntryKind {
  return e.kind ?? "message";
}

export function newRoom(chatroomId: string): RoomState {
  return { chatroomId, have: 0, head: 0, lastRead: 0, unread: 0, messages: [], receipts: {} };
}

function find(room: RoomState, index: number): ChatMessage | undefined {
  // Messages are in index order: binary search.
  let lo = 0, hi = room.messages.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const m = room.messages[mid]!;
    if (m.index === index) return m;
    if (m.index < index) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/**
 * Applies the next entry of a room's log (entry.index === room.have + 1, or
 * the first kept one after truncation) to the room's state.
 */
export function applyEntry(room: RoomState, e: LogEntry): void {
  switch (kindOf(e)) {
    case "message": {
      const m: ChatMessage = { index: e.index, userId: e.userId, messageType: e.messageType ?? "", createTime: e.createTime, reactions: {} };
      if (e.chatMessage !== undefined) m.chatMessage = e.chatMessage;
      if (e.clientMsgId !== undefined) m.clientMsgId = e.clientMsgId;
      if (e.replyTo !== undefined) m.replyTo = e.replyTo;
      // From catch-up a message comes in its current state.
      if (e.edited) {
        m.edited = true;
        if (e.editedAt !== undefined) m.editedAt = e.editedAt;
      }
      if (e.deleted) {
        m.deleted = true;
        delete m.chatMessage;
        if (e.deletedBy !== undefined) m.deletedBy = e.deletedBy;
        if (e.deletedAt !== undefined) m.deletedAt = e.deletedAt;
      }
      room.messages.push(m);
      break;
    }
    case "edit": {
      const m = e.target !== undefined ? find(room, e.target) : undefined;
      if (m && !m.deleted && e.chatMessage !== undefined) {
        m.chatMessage = e.chatMessage;
        m.edited = true;
        m.editedAt = e.createTime;
      }
      break;
    }
    case "delete": {
      const m = e.target !== undefined ? find(room, e.target) : undefined;
      if (m) {
        m.deleted = true;
        delete m.chatMessage;
        m.deletedBy = e.userId;
        m.deletedAt = e.createTime;
        m.reactions = {};
      }
      break;
    }
    case "reaction": {
      const m = e.target !== undefined ? find(room, e.target) : undefined;
      if (m && !m.deleted && e.reaction) {
        const users = (m.reactions[e.reaction] ?? []).filter((u) => u !== e.userId);
        if (!e.remove) users.push(e.userId);
        if (users.length) m.reactions[e.reaction] = users;
        else delete m.reactions[e.reaction];
      }
      break;
    }
    case "rename":
      if (e.name !== undefined) room.name = e.name;
      break;
    case "member":
      if (e.event === "owner") room.owner = e.userId;
      break; // membership is the server's; the entry takes its index
    default:
      break; // kinds this SDK does not know still take their index
  }
  room.have = Math.max(room.have, e.index);
  room.head = Math.max(room.head, e.index);
  room.unread = Math.max(0, room.head - room.lastRead);
}
