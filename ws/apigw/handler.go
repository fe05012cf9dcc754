package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// Route keys API Gateway puts in requestContext.routeKey. The named routes
// are selected by $request.body.action (serverless.yml); they and $default
// all go to Service.Handle, which reads the action itself. The handler
// dispatches on the event type, not on these.
const (
	RouteConnect    = "$connect"
	RouteDisconnect = "$disconnect"
	RouteDefault    = "$default"
)

// Event types API Gateway puts in requestContext.eventType: what Handle
// dispatches on.
const (
	EventConnect    = "CONNECT"
	EventDisconnect = "DISCONNECT"
	EventMessage    = "MESSAGE"
)

// Routes are the named routes of the WebSocket API, one per client action.
var Routes = []string{"sendMessage", "markRead", "sync", "ping", "auth"}

// UseCases are the realtime use cases the handler calls; *ws.Service
// implements them.
type UseCases interface {
	Connect(ctx context.Context, c tripsense.Connection) error
	Disconnect(ctx context.Context, connID string) error
	Handle(ctx context.Context, c ws.Conn, data []byte) error
	FirstFrameAuth() bool
	CheckFirstFrame(ctx context.Context, data []byte, before int) ws.FirstFrame
}

var _ UseCases = (*ws.Service)(nil)

// Connections finds the user of a connection; tripsense.Presence
// implements it.
type Connections interface {
	Get(ctx context.Context, connID string) (tripsense.Connection, error)
}

// Handler is the Lambda handler of the WebSocket API. Build it once per
// process (cmd/lambda-ws) and pass Handle to lambda.Start. The fields are
// set once before use; after that it is safe for concurrent use.
type Handler struct {
	// Service runs the use cases: a *ws.Service whose Pusher is a *Pusher
	// and whose Presence outlives invocations (store/dynamo).
	Service UseCases
	// Connections looks up the user of a connection for every frame.
	Connections Connections
	// Pusher closes connections that are not registered (see Handle).
	Pusher tripsense.Pusher
	// Auth authenticates $connect from ?userId= (dev) or ?token= (token).
	Auth tripsense.Authenticator
	// Origins are the browser origins $connect allows besides the same
	// origin (TRIPSENSE_ALLOWED_ORIGINS); tripsense.Origins.AllowsWebSocket
	// is the rule.
	Origins tripsense.Origins
	// Log receives one JSON record per event outcome worth keeping, with
	// the request ids, the connection id and the route. Nil discards.
	Log *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Handle runs one API Gateway WebSocket event.
//
//   - $connect checks the Origin (403 unless allowed) and the offered
//     subprotocols (400 unless tripsense.v1 is among them; when it is, the
//     answer selects it in Sec-WebSocket-Protocol, without which a browser
//     fails the handshake), reads the optional deviceId (400 when it is not
//     an id or given twice), authenticates the query's userId/token (401
//     when that proves nothing) and runs Service.Connect (409 when the
//     duplicate-connection policy refuses, 429 over the per-user connection
//     bound, 400 for an invalid user, 500 otherwise). API Gateway refuses
//     the WebSocket handshake for any status but 200, and nothing can be
//     pushed during $connect, so these stay HTTP statuses for browsers too.
//     In token mode a $connect with neither userId nor token is accepted
//     without Connect: the connection must authenticate with its first
//     frame (see MESSAGE); it is then the user's default device (a MESSAGE
//     event carries no query string).
//   - $disconnect runs Service.Disconnect.
//   - MESSAGE (any route: the named ones and $default) looks up the
//     connection's user and runs Service.Handle with the raw body. A
//     connection that is not registered is, in token mode and within
//     ws.AuthTimeout of its connectedAt, one waiting for its auth frame:
//     Service.CheckFirstFrame judges the frame (an unauthorized error
//     frame, a 4401 close, or Connect for the token's user and an authed
//     answer; a refused Connect closes with 4409/4429). Any other
//     unregistered connection (replaced, expired, its $connect failed
//     half-way, or no auth frame in time) is deleted.
//   - Any other event type is answered 400 and logged: the function is
//     wired to something that is not a WebSocket API.
//
// It dispatches on requestContext.eventType (CONNECT, DISCONNECT, MESSAGE),
// which API Gateway sets whatever the route keys are named, not on the
// route key.
//
// Handle returns a nil error for every outcome: failures are answered with
// a status, logged once here, and never turned into a Lambda error (which
// would only add a second log record and a useless retry).
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rc := &req.RequestContext
	attrs := []any{"request_id", rc.RequestID, "conn", rc.ConnectionID, "route", rc.RouteKey, "event_type", rc.EventType}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		attrs = append(attrs, "aws_request_id", lc.AwsRequestID)
	}
	log := h.log().With(attrs...)
	if rc.ConnectionID == "" {
		log.Warn("event without connection id")
		return status(http.StatusBadRequest, tripsense.Errorf(tripsense.EINVALID, "no connection id")), nil
	}
	if ep := EndpointFor(rc.DomainName, rc.Stage); ep != "" {
		ctx = WithEndpoint(ctx, ep)
	}
	switch rc.EventType {
	case EventConnect:
		return h.connect(ctx, log, req), nil
	case EventDisconnect:
		return h.disconnect(ctx, log, req), nil
	case EventMessage:
		return h.frame(ctx, log, req), nil
	default:
		log.Error("unknown event type: want CONNECT, DISCONNECT or MESSAGE")
		return status(http.StatusBadRequest, tripsense.Errorf(tripsense.EINVALID, "unknown event type %q: want CONNECT, DISCONNECT or MESSAGE", truncate(rc.EventType, 32))), nil
	}
}

func (h *Handler) connect(ctx context.Context, log *slog.Logger, req events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	origins := headerValues(req, "Origin")
	origin := ""
	if len(origins) > 0 {
		origin = origins[0]
	}
	if len(origins) > 1 || !h.Origins.AllowsWebSocket(origin, header(req, "Host")) {
		err := tripsense.Errorf(tripsense.EFORBIDDEN, "origin %q is not allowed (TRIPSENSE_ALLOWED_ORIGINS)", origin)
		log.Info("connect refused", "status", http.StatusForbidden, "origin", truncate(origin, 256))
		return status(http.StatusForbidden, err)
	}
	proto, err := tripsense.SelectSubprotocol(headerValues(req, "Sec-WebSocket-Protocol"))
	if err != nil {
		log.Info("connect refused", "status", http.StatusBadRequest, "err", err)
		return status(http.StatusBadRequest, err)
	}
	accepted := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	if proto != "" {
		accepted.Headers = map[string]string{"Sec-WebSocket-Protocol": proto}
	}
	creds, err := credentials(req)
	if err != nil {
		log.Info("connect refused", "status", http.StatusUnauthorized, "err", err)
		return status(http.StatusUnauthorized, err)
	}
	device, err := deviceID(req)
	if err != nil {
		log.Info("connect refused", "status", http.StatusBadRequest, "err", err)
		return status(http.StatusBadRequest, err)
	}
	if !hasCredentials(req) && h.Service.FirstFrameAuth() {
		log.Info("connected; waiting for the auth frame")
		return accepted
	}
	p, err := h.Auth.Authenticate(ctx, creds)
	if err != nil {
		log.Info("connect refused", "status", http.StatusUnauthorized, "err", err)
		return status(http.StatusUnauthorized, err)
	}
	rc := &req.RequestContext
	c := tripsense.Connection{ID: rc.ConnectionID, UserID: p.UserID, DeviceID: device, ConnectedAt: h.now().UTC()}
	// The connection lives no longer than its token: once its record
	// expires, frames on it find no connection and it is deleted.
	if !p.Expires.IsZero() && p.Expires.Before(c.ConnectedAt.Add(tripsense.ConnectionTTL)) {
		c.ExpiresAt = p.Expires
	}
	if rc.ConnectedAt > 0 {
		c.ConnectedAt = time.UnixMilli(rc.ConnectedAt).UTC()
	}
	if err := h.Service.Connect(ctx, c); err != nil {
		code := connectStatus(err)
		if code == http.StatusInternalServerError {
			log.Error("connect failed", "user", p.UserID, "status", code, "err", err)
		} else {
			log.Info("connect refused", "user", p.UserID, "status", code, "err", err)
		}
		return status(code, err)
	}
	log.Info("connected", "user", p.UserID, "device", device)
	return accepted
}

// header returns the last value of the request header name (any letter
// case), "" when absent.
func header(req events.APIGatewayWebsocketProxyRequest, name string) string {
	vs := headerValues(req, name)
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// headerValues returns every value of the request header name, matched in
// any letter case: MultiValueHeaders when API Gateway sent them, else
// Headers.
func headerValues(req events.APIGatewayWebsocketProxyRequest, name string) []string {
	var out []string
	for k, vs := range req.MultiValueHeaders {
		if strings.EqualFold(k, name) {
			out = append(out, vs...)
		}
	}
	if out != nil {
		return out
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			out = append(out, v)
		}
	}
	return out
}

// hasCredentials reports whether the query names userId or token at all
// (an empty ?token= is a credential that fails, not none).
func hasCredentials(req events.APIGatewayWebsocketProxyRequest) bool {
	for _, k := range []string{"userId", "token"} {
		if _, ok := req.QueryStringParameters[k]; ok {
			return true
		}
		if _, ok := req.MultiValueQueryStringParameters[k]; ok {
			return true
		}
	}
	return false
}

// connectStatus maps a Connect error to the handshake's HTTP status.
func connectStatus(err error) int {
	status, _ := tripsense.HTTPStatus(tripsense.ErrorCode(err))
	return status
}

// credentials reads ?userId= and ?token=. A parameter given twice is
// ambiguous and refused.
func credentials(req events.APIGatewayWebsocketProxyRequest) (tripsense.Credentials, error) {
	for _, k := range []string{"userId", "token"} {
		if len(req.MultiValueQueryStringParameters[k]) > 1 {
			return tripsense.Credentials{}, tripsense.Errorf(tripsense.EUNAUTHORIZED, "%s given more than once", k)
		}
	}
	q := req.QueryStringParameters
	return tripsense.Credentials{UserID: q["userId"], Token: q["token"]}, nil
}

// deviceID reads ?deviceId= (tripsense.ParseDeviceID): absent is the
// default device. API Gateway puts every value in
// MultiValueQueryStringParameters and the last one in
// QueryStringParameters.
func deviceID(req events.APIGatewayWebsocketProxyRequest) (string, error) {
	vs, ok := req.MultiValueQueryStringParameters["deviceId"]
	if !ok {
		if v, one := req.QueryStringParameters["deviceId"]; one {
			vs = []string{v}
		}
	}
	return tripsense.ParseDeviceID(vs)
}

func (h *Handler) disconnect(ctx context.Context, log *slog.Logger, req events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	rc := &req.RequestContext
	if err := h.Service.Disconnect(ctx, rc.ConnectionID); err != nil {
		log.Error("disconnect failed", "err", err)
		return status(http.StatusInternalServerError, err)
	}
	log.Info("disconnected", "close_code", rc.DisconnectStatusCode, "close_reason", deref(rc.DisconnectReason))
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
}

func (h *Handler) frame(ctx context.Context, log *slog.Logger, req events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	id := req.RequestContext.ConnectionID
	c, err := h.Connections.Get(ctx, id)
	if tripsense.ErrorCode(err) == tripsense.ENOTFOUND && h.awaitingAuth(req) {
		return h.firstFrame(ctx, log, req)
	}
	if tripsense.ErrorCode(err) == tripsense.ENOTFOUND {
		// API Gateway still has the socket but we do not: it was replaced
		// or expired. Drop it so that the client reconnects.
		if cerr := h.Pusher.Close(ctx, id, ws.CloseRemoved, "unknown connection"); cerr != nil && tripsense.ErrorCode(cerr) != tripsense.EGONE {
			log.Warn("close unknown connection", "err", cerr)
		}
		log.Info("frame from unknown connection; deleted it")
		return status(http.StatusGone, tripsense.ErrGone)
	}
	if err != nil {
		log.Error("connection lookup failed", "err", err)
		return status(http.StatusInternalServerError, err)
	}
	err = h.Service.Handle(ctx, ws.Conn{ID: id, UserID: c.UserID, DeviceID: c.DeviceID}, body(req))
	switch {
	case err == nil:
	case tripsense.ErrorCode(err) == tripsense.EGONE:
		// The client left while we answered; $disconnect may come later
		// (then it finds nothing) or never.
		if derr := h.Service.Disconnect(ctx, id); derr != nil {
			log.Error("disconnect gone connection", "user", c.UserID, "err", derr)
		} else {
			log.Info("connection gone while answering; disconnected", "user", c.UserID)
		}
	default:
		log.Warn("answer not delivered", "user", c.UserID, "err", err)
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
}

// body is the frame's payload. A binary frame is decoded; if that fails
// the raw text goes on and is answered as malformed.
func body(req events.APIGatewayWebsocketProxyRequest) []byte {
	data := []byte(req.Body)
	if req.IsBase64Encoded {
		if dec, err := base64.StdEncoding.DecodeString(req.Body); err == nil {
			data = dec
		}
	}
	return data
}

// awaitingAuth reports whether an unregistered connection may still
// authenticate with an auth frame: token mode, and less than
// ws.AuthTimeout since API Gateway accepted it (requestContext.connectedAt,
// in every event). Nothing needs to be stored for that; once the time is
// up the connection is an unknown one like any other. API Gateway runs no
// code when the time passes, so a connection that sends nothing stays open
// (receiving nothing) until its idle timeout or its first frame.
func (h *Handler) awaitingAuth(req events.APIGatewayWebsocketProxyRequest) bool {
	at := req.RequestContext.ConnectedAt
	if !h.Service.FirstFrameAuth() || at <= 0 {
		return false
	}
	return h.now().Sub(time.UnixMilli(at)) < ws.AuthTimeout
}

// firstFrame handles a frame of a connection waiting for its auth frame.
// Frames of one connection may run in parallel Lambda instances, so a
// client sends nothing else until authed arrives (frames before it get
// the unauthorized error). The frame count limit of the single binary is
// not kept here (it would need a write per frame); API Gateway's
// throttling and the deadline bound such a connection.
func (h *Handler) firstFrame(ctx context.Context, log *slog.Logger, req events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	rc := &req.RequestContext
	id := rc.ConnectionID
	closeWith := func(code int, reason string) events.APIGatewayProxyResponse {
		if err := h.Pusher.Close(ctx, id, code, reason); err != nil && tripsense.ErrorCode(err) != tripsense.EGONE {
			log.Warn("close unauthenticated connection", "err", err)
		}
		log.Info("unauthenticated connection closed", "close_code", code, "close_reason", reason)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	}
	v := h.Service.CheckFirstFrame(ctx, body(req), 0)
	switch {
	case v.Close:
		return closeWith(v.Code, v.Reason)
	case !v.Authenticated:
		if err := h.Pusher.Push(ctx, id, tripsense.Outbound{Data: v.Reply}); err != nil && tripsense.ErrorCode(err) != tripsense.EGONE {
			log.Warn("answer not delivered", "err", err)
		}
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	}
	p := v.Principal
	c := tripsense.Connection{ID: id, UserID: p.UserID, ConnectedAt: time.UnixMilli(rc.ConnectedAt).UTC()}
	if !p.Expires.IsZero() && p.Expires.Before(c.ConnectedAt.Add(tripsense.ConnectionTTL)) {
		c.ExpiresAt = p.Expires
	}
	if err := h.Service.Connect(ctx, c); err != nil {
		code := connectStatus(err)
		if code == http.StatusInternalServerError {
			log.Error("connect failed", "user", p.UserID, "status", code, "err", err)
		} else {
			log.Info("connect refused", "user", p.UserID, "status", code, "err", err)
		}
		return closeWith(ws.RefusalClose(err))
	}
	log.Info("connected", "user", p.UserID, "auth", "first frame")
	if err := h.Pusher.Push(ctx, id, tripsense.Outbound{Data: ws.AuthedFrame(p)}); err != nil {
		if tripsense.ErrorCode(err) == tripsense.EGONE {
			if derr := h.Service.Disconnect(ctx, id); derr != nil {
				log.Error("disconnect gone connection", "user", p.UserID, "err", derr)
			}
		} else {
			log.Warn("authed not delivered", "user", p.UserID, "err", err)
		}
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
}

// status is a response with the JSON error body the HTTP API uses:
// {"error":{"code":..,"message":..}}.
func status(code int, err error) events.APIGatewayProxyResponse {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{
		"code": tripsense.ErrorCode(err), "message": tripsense.ErrorMessage(err),
	}})
	return events.APIGatewayProxyResponse{
		StatusCode: code,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
