export function kindOf(e) {
    return e.kind ?? "message";
}
export function newRoom(chatroomId) {
    return { chatroomId, have: 0, head: 0, lastRead: 0, unread: 0, messages: [], receipts: {} };
}
function find(room, index) {
    // Messages are in index order: binary search.
    let lo = 0, hi = room.messages.length - 1;
    while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const m = room.messages[mid];
        if (m.index === index)
            return m;
        if (m.index < index)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return undefined;
}
/**
 * Applies the next entry of a room's log (entry.index === room.have + 1, or
 * the first kept one after truncation) to the room's state.
 */
export function applyEntry(room, e) {
    switch (kindOf(e)) {
        case "message": {
            const m = { index: e.index, userId: e.userId, messageType: e.messageType ?? "", createTime: e.createTime, reactions: {} };
            if (e.chatMessage !== undefined)
                m.chatMessage = e.chatMessage;
            if (e.clientMsgId !== undefined)
                m.clientMsgId = e.clientMsgId;
            if (e.replyTo !== undefined)
                m.replyTo = e.replyTo;
            // From catch-up a message comes in its current state.
            if (e.edited) {
                m.edited = true;
                if (e.editedAt !== undefined)
                    m.editedAt = e.editedAt;
            }
            if (e.deleted) {
                m.deleted = true;
                delete m.chatMessage;
                if (e.deletedBy !== undefined)
                    m.deletedBy = e.deletedBy;
                if (e.deletedAt !== undefined)
                    m.deletedAt = e.deletedAt;
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
                if (!e.remove)
                    users.push(e.userId);
                if (users.length)
                    m.reactions[e.reaction] = users;
                else
                    delete m.reactions[e.reaction];
            }
            break;
        }
        case "rename":
            if (e.name !== undefined)
                room.name = e.name;
            break;
        case "member":
            if (e.event === "owner")
                room.owner = e.userId;
            break; // membership is the server's; the entry takes its index
        default:
            break; // kinds this SDK does not know still take their index
    }
    room.have = Math.max(room.have, e.index);
    room.head = Math.max(room.head, e.index);
    room.unread = Math.max(0, room.head - room.lastRead);
}
