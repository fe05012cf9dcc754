package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tripsense/tripsense/metrics"
	"github.com/tripsense/tripsense/ws/local"
)

// durationsInMs is the JSON log handler's ReplaceAttr: a time.Duration
// value becomes a number of milliseconds under key+"_ms" (JSON logs are
// read by machines, which want one unit; slog writes nanoseconds).
func durationsInMs(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key+"_ms", float64(a.Value.Duration().Microseconds())/1000)
	}
	return a
}

// observeHTTP counts and times every request (metrics may be nil) and logs
// each refused WebSocket upgrade with its status, reason and the client's
// address, at warn for 401/403/409/429 and info otherwise.
func observeHTTP(next http.Handler, m *metrics.Metrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := metrics.Route(r)
		sw := &metrics.StatusWriter{ResponseWriter: w, KeepErrorBody: rt == "/ws"}
		next.ServeHTTP(sw, r)
		code := sw.Code()
		if m != nil {
			m.ObserveHTTP(rt, code, time.Since(start))
		}
		// An upgrade refused over --connect-rate is counted
		// (rate_limited_total{budget="connect"}), not logged: a client in
		// a reconnect loop would flood the log.
		limited := code == http.StatusTooManyRequests && strings.Contains(refusalReason(sw.Body), local.ConnectRateReason)
		if rt == "/ws" && code >= 400 && !limited {
			level := slog.LevelInfo
			switch code {
			case http.StatusUnauthorized, http.StatusForbidden, http.StatusConflict, http.StatusTooManyRequests:
				level = slog.LevelWarn
			}
			log.Log(r.Context(), level, "websocket upgrade refused", "status", code, "reason", refusalReason(sw.Body),
				"remote", r.RemoteAddr, "client", clientVersion(r))
		}
		if code == http.StatusTooManyRequests && rt != "/ws" && m != nil {
			m.HTTPRateLimited()
		}
	})
}

// clientVersion is what the client says it is: X-Client-Version if given,
// else its User-Agent, bounded and with only printable ASCII kept.
func clientVersion(r *http.Request) string {
	v := r.Header.Get("X-Client-Version")
	if v == "" {
		v = r.UserAgent()
	}
	if len(v) > 100 {
		v = v[:100]
	}
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c > 0x7e {
			return -1
		}
		return c
	}, v)
}

// refusalReason is the message of a JSON error answer, or its first line.
func refusalReason(body []byte) string {
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		return e.Error.Code + ": " + e.Error.Message
	}
	s, _, _ := strings.Cut(string(body), "\n")
	return s
}
