// Package webhook sends the room-log entries to the app's backend as signed
// webhooks (Standard Webhooks: webhook-id, webhook-timestamp,
// webhook-signature), so it can send push notifications to members who
// were offline. It is one core for both runtimes: Build turns a log entry
// into an event (type, payload, offlineMembers), Sender signs and posts it;
// the single binary drives them from the store's durable outbox
// (Dispatcher), AWS from a queue consumer Lambda (cmd/lambda-webhook).
package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tripsense/tripsense"
)

// Event types, one per kind of room-log entry.
const (
	TypeMessageCreated  = "message.created"
	TypeMessageEdited   = "message.edited"
	TypeMessageDeleted  = "message.deleted"
	TypeReactionAdded   = "reaction.added"
	TypeReactionRemoved = "reaction.removed"
	TypeMemberJoined    = "member.joined"
	TypeMemberLeft      = "member.left"
	TypeRoomRenamed     = "room.renamed"
	TypeRoomOwner       = "room.owner_changed"
)

// TypeOf is the event type of a log entry.
func TypeOf(m *tripsense.Message) string {
	switch m.Kind {
	case tripsense.KindEdit:
		return TypeMessageEdited
	case tripsense.KindDelete:
		return TypeMessageDeleted
	case tripsense.KindReaction:
		if m.Remove {
			return TypeReactionRemoved
		}
		return TypeReactionAdded
	case tripsense.KindMember:
		switch m.Type {
		case tripsense.MemberLeft:
			return TypeMemberLeft
		case tripsense.MemberOwner:
			return TypeRoomOwner
		}
		return TypeMemberJoined
	case tripsense.KindRename:
		return TypeRoomRenamed
	}
	return TypeMessageCreated
}

// Event is one webhook: its stable id (tripsense.EventID), type and the
// JSON body, {"type","timestamp","data"} as Standard Webhooks recommends.
type Event struct {
	ID   string
	Type string
	Body []byte
}

// Source is what Build reads: the log, the members and who is online.
type Source interface {
	MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]tripsense.Message, error)
	Members(ctx context.Context, room string) ([]string, error)
}

// Online lists a room's online connections (tripsense.Presence).
type Online interface {
	RoomConnections(ctx context.Context, room string) ([]tripsense.Member, error)
}

// ErrGone says the entry is no longer in the log (retention removed it):
// there is nothing to send.
var ErrGone = errors.New("webhook: the entry is no longer stored")

// Build makes the event of entry index of room. data is the entry as
// catch-up shows it (kind, chatroomId, index, userId, ...); a
// message.created adds offlineMembers: the members other than the sender
// with no online connection now (Build runs right after the entry was
// handed out, so "now" is when it was fanned out; an event sent again
// after a restart counts everyone offline who has not reconnected).
func Build(ctx context.Context, src Source, online Online, room string, index int64, now time.Time) (Event, error) {
	ms, err := src.MessagesAfter(ctx, room, index-1, 1)
	if err != nil {
		return Event{}, fmt.Errorf("webhook: read %s/%d: %w", room, index, err)
	}
	if len(ms) == 0 || ms[0].Index != index {
		return Event{}, ErrGone
	}
	m := &ms[0]
	typ := TypeOf(m)
	b := make([]byte, 0, 256+len(m.Body))
	b = append(b, `{"type":`...)
	b = tripsense.AppendJSONString(b, typ)
	b = append(b, `,"timestamp":"`...)
	b = now.UTC().AppendFormat(b, tripsense.TimeLayout)
	b = append(b, `","data":`...)
	b = m.AppendJSON(b, "")
	if typ == TypeMessageCreated {
		offline, err := offlineMembers(ctx, src, online, m)
		if err != nil {
			return Event{}, err
		}
		b = b[:len(b)-1] // reopen the entry's object
		b = append(b, `,"offlineMembers":[`...)
		for i, u := range offline {
			if i > 0 {
				b = append(b, ',')
			}
			b = tripsense.AppendJSONString(b, u)
		}
		b = append(b, "]}"...)
	}
	b = append(b, '}')
	return Event{ID: tripsense.EventID(room, index), Type: typ, Body: b}, nil
}

func offlineMembers(ctx context.Context, src Source, online Online, m *tripsense.Message) ([]string, error) {
	members, err := src.Members(ctx, m.Room)
	if err != nil {
		return nil, fmt.Errorf("webhook: members of %s: %w", m.Room, err)
	}
	on := map[string]bool{}
	if online != nil {
		conns, err := online.RoomConnections(ctx, m.Room)
		if err != nil {
			return nil, fmt.Errorf("webhook: online members of %s: %w", m.Room, err)
		}
		for _, c := range conns {
			on[c.UserID] = true
		}
	}
	out := []string{}
	for _, u := range members {
		if u != m.UserID && !on[u] {
			out = append(out, u)
		}
	}
	return out, nil
}

// ParseSecret checks a Standard Webhooks secret: "whsec_" and the base64
// of 24 to 64 random bytes.
func ParseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New(`the webhook secret must start with "whsec_" (a Standard Webhooks secret: whsec_ and the base64 of 24-64 random bytes)`)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("the webhook secret after whsec_ is not standard base64: %w", err)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("the webhook secret holds %d bytes, want 24 to 64", len(key))
	}
	return key, nil
}

// DefaultTimeout bounds one delivery attempt.
const DefaultTimeout = 10 * time.Second

// Sender signs and posts events to one URL.
type Sender struct {
	url    string
	wh     *standardwebhooks.Webhook
	client *http.Client
}

// NewSender checks the URL (http or https) and the secret (ParseSecret).
// client nil means one with timeout.
func NewSender(rawURL, secret string, timeout time.Duration, client *http.Client) (*Sender, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook URL %q: want an absolute http or https URL", rawURL)
	}
	key, err := ParseSecret(secret)
	if err != nil {
		return nil, err
	}
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	return &Sender{url: u.String(), wh: wh, client: client}, nil
}

// Send posts ev, signed for this attempt's time. A 2xx answer is success;
// anything else (status, timeout, refused connection) is an error to retry.
func (s *Sender) Send(ctx context.Context, ev Event, at time.Time) error {
	sig, err := s.wh.Sign(ev.ID, at, ev.Body)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(ev.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standardwebhooks.HeaderWebhookID, ev.ID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	req.Header.Set("User-Agent", "tripsense-webhooks")
	res, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("the receiver answered %s", res.Status)
	}
	return nil
}
