package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
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
//   - $connect authenticates the query's userId/token (401 when that proves
//     nothing), reads the optional deviceId (400 when it is not an id or
//     given twice) and runs Service.Connect (409 when the duplicate-connection
//     policy refuses, 429 over the per-user connection bound, 400 for an
//     invalid user, 500 otherwise). API Gateway
//     refuses the WebSocket handshake for any status but 200. Nothing is
//     pushed to the connection.
//   - $disconnect runs Service.Disconnect.
//   - MESSAGE (any route: the named ones and $default) looks up the
//     connection's user and runs Service.Handle with the raw body. A
//     connection that is not registered (replaced, expired, or its $connect
//     failed half-way) is deleted.
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
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
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
	data := []byte(req.Body)
	if req.IsBase64Encoded {
		// A binary frame: decode it; if that fails the raw text goes on and
		// is answered as malformed.
		if dec, derr := base64.StdEncoding.DecodeString(req.Body); derr == nil {
			data = dec
		}
	}
	err = h.Service.Handle(ctx, ws.Conn{ID: id, UserID: c.UserID, DeviceID: c.DeviceID}, data)
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
