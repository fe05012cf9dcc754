package tripsense

import (
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The message lifecycle: edits, deletions and reactions are events in the
// room's log (see Message). The rules live here, once; every store calls
// ApplyEvent inside the atomic step that appends the event (a bbolt
// transaction, the memory store's lock, a conditional write on DynamoDB),
// so two concurrent events on one message are decided one after the other.

// Limits of reactions.
const (
	MaxReactionBytes = 32 // a reaction, in bytes of UTF-8
	MaxReactionRunes = 16 // and in code points (an emoji with modifiers is several)
	// MaxReactionsPerMessage bounds the (user, reaction) pairs one message
	// holds, so its stored record stays small (a DynamoDB item is at most
	// 400 KB).
	MaxReactionsPerMessage = 1000
)

// ValidReaction reports whether s is a valid reaction: 1 to
// MaxReactionBytes bytes and MaxReactionRunes code points, each an ASCII
// letter, digit or one of _ : + - (short codes such as ":+1:"), or a
// printable non-ASCII character that is not a space (emoji), or the joiners
// and selectors emoji sequences use (U+200D, U+FE0E, U+FE0F).
func ValidReaction(s string) bool {
	if s == "" || len(s) > MaxReactionBytes || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxReactionRunes {
		return false
	}
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			c := byte(r)
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			case c == '_', c == ':', c == '+', c == '-':
			default:
				return false
			}
		case r == '\u200d', r == '\ufe0e', r == '\ufe0f':
		case unicode.IsSpace(r) || !unicode.IsGraphic(r):
			return false
		}
	}
	return true
}

// ValidateEvent checks an event (ev.Kind set) against the input limits,
// before any store is asked: ids, the target index, an edit's body (at most
// maxBody bytes, as ValidateNewMessageMax), a reaction. It returns an
// *Error with code EINVALID or ETOOLARGE.
func ValidateEvent(ev NewMessage, maxBody int) error {
	if maxBody <= 0 || maxBody > MaxChatMessageBytes {
		maxBody = MaxChatMessageBytes
	}
	switch {
	case !ValidID(ev.Room):
		return Errorf(EINVALID, "chatroomId must be 1-%d characters of [A-Za-z0-9_.:@-]", MaxIDLen)
	case !ValidID(ev.UserID):
		return Errorf(EINVALID, "userId must be 1-%d characters of [A-Za-z0-9_.:@-]", MaxIDLen)
	case ev.Target <= 0:
		return Errorf(EINVALID, `"index" must be the positive index of a message of the room`)
	case !ValidClientMsgID(ev.ClientMsgID):
		return Errorf(EINVALID, "clientMsgId must be at most %d printable ASCII characters", MaxClientMsgIDLen)
	}
	switch ev.Kind {
	case KindEdit:
		switch {
		case ev.Body == "":
			return Errorf(EINVALID, "chatMessage is required")
		case len(ev.Body) > maxBody:
			return Errorf(ETOOLARGE, "chatMessage is over %d bytes", maxBody)
		case !utf8.ValidString(ev.Body):
			return Errorf(EINVALID, "chatMessage must be valid UTF-8")
		}
	case KindDelete:
	case KindReaction:
		if !ValidReaction(ev.Reaction) {
			return Errorf(EINVALID, "reaction must be 1-%d bytes (%d characters) of letters, digits, _:+- or emoji", MaxReactionBytes, MaxReactionRunes)
		}
	default:
		return Errorf(EINVALID, "unknown event kind %q", ev.Kind)
	}
	return nil
}

// CheckReply checks the replyTo of a new message against the entry it
// names, as stored when the message is appended (nil: the room has no
// entry there). A reply must name a message of the room, not an event; a
// deleted message may be replied to.
func CheckReply(target *Message) error {
	if target == nil || !target.IsMessage() {
		return Errorf(EINVALID, "replyTo must be the index of a message of the room")
	}
	return nil
}

// ApplyEvent decides the event ev against its target, the entry at
// ev.Target as stored (nil when the room has none there, or retention
// removed it), and when it is allowed changes *target to its state after
// the event, which is appended at index at time at. When it returns an
// error nothing may be stored. The rules:
//
//   - the target is an existing message of the room, not an event;
//   - only its author edits it;
//   - its author, or a moderator (ev.Moderator), deletes it;
//   - a deleted message cannot be edited, deleted again or reacted to;
//   - one user's reaction of one kind counts once: adding it again, or
//     removing one that is not there, is refused.
//
// Refusals are EFORBIDDEN (not allowed for this user) or EINVALID (no such
// message, already deleted, nothing to change). Membership is checked by
// the caller before (ws.Service).
func ApplyEvent(target *Message, ev *NewMessage, index int64, at time.Time) error {
	if target == nil || !target.IsMessage() {
		return Errorf(EINVALID, "index %d is not a message of room %s", ev.Target, ev.Room)
	}
	if target.Deleted {
		return Errorf(EINVALID, "message %d was deleted", ev.Target)
	}
	at = at.UTC().Truncate(time.Millisecond)
	switch ev.Kind {
	case KindEdit:
		if target.UserID != ev.UserID {
			return Errorf(EFORBIDDEN, "only the author edits a message")
		}
		target.Body = ev.Body
		target.EditedAt = at
		target.Edits = append(target.Edits, index)
	case KindDelete:
		if target.UserID != ev.UserID && !ev.Moderator {
			return Errorf(EFORBIDDEN, "only the author or a moderator deletes a message")
		}
		target.Body = ""
		target.Deleted = true
		target.DeletedBy = ev.UserID
		target.DeletedAt = at
	case KindReaction:
		r := Reaction{UserID: ev.UserID, Reaction: ev.Reaction}
		i, found := slices.BinarySearchFunc(target.Reactions, r, compareReactions)
		switch {
		case ev.Remove && !found:
			return Errorf(EINVALID, "you have not reacted with %s", ev.Reaction)
		case ev.Remove:
			target.Reactions = slices.Delete(target.Reactions, i, i+1)
		case found:
			return Errorf(EINVALID, "you already reacted with %s", ev.Reaction)
		case len(target.Reactions) >= MaxReactionsPerMessage:
			return Errorf(EINVALID, "message %d has %d reactions, the limit", ev.Target, MaxReactionsPerMessage)
		default:
			target.Reactions = slices.Insert(target.Reactions, i, r)
		}
	default:
		return Errorf(EINVALID, "unknown event kind %q", ev.Kind)
	}
	return nil
}

func compareReactions(a, b Reaction) int {
	if c := strings.Compare(a.Reaction, b.Reaction); c != 0 {
		return c
	}
	return strings.Compare(a.UserID, b.UserID)
}

// SortReactions puts rs in the order Message.Reactions keeps.
func SortReactions(rs []Reaction) { slices.SortFunc(rs, compareReactions) }

// Redact removes the body of m: a message deleted with its author's
// erasure, or an edit event of a deleted message. It returns whether
// anything changed.
func Redact(m *Message) bool {
	if m.Deleted && m.Body == "" {
		return false
	}
	m.Body = ""
	m.Deleted = true
	return true
}

// ReactionCount is how many users reacted to a message with one reaction.
type ReactionCount struct {
	Reaction string
	Count    int
}

// ReactionCounts returns the counts of m.Reactions by reaction, in the
// reactions' order.
func (m *Message) ReactionCounts() []ReactionCount {
	var out []ReactionCount
	for _, r := range m.Reactions {
		if n := len(out); n > 0 && out[n-1].Reaction == r.Reaction {
			out[n-1].Count++
			continue
		}
		out = append(out, ReactionCount{Reaction: r.Reaction, Count: 1})
	}
	return out
}
