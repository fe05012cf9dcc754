package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tripsense/tripsense"
)

// Backuper writes a consistent snapshot of the whole store to w without
// stopping writers (store/bolt.Store.Backup). begin is called once before
// the first byte with the snapshot's size and the store's epoch; its error
// aborts the backup.
type Backuper interface {
	Backup(w io.Writer, begin func(size int64, epoch string) error) (int64, error)
}

// backupStall is how long a backup download may go without progress
// before the server gives up on it: the listener's write timeout (which
// bounds ordinary answers) is lifted for a backup, whose size is the
// store's, and replaced by this rolling bound.
const backupStall = 30 * time.Second

// getBackup serves GET /v1/admin/backup to admins: the snapshot as
// application/octet-stream with its exact Content-Length and the epoch in
// Tripsense-Epoch. Nothing goes out before the snapshot began, so a
// failure to begin is an ordinary error answer; a failure later cuts the
// body short of its Content-Length, which the client detects.
func (s *server) getBackup(w http.ResponseWriter, r *http.Request) {
	if p, ok := tripsense.PrincipalFrom(r.Context()); !ok || !p.Admin {
		s.writeError(w, r, tripsense.Errorf(tripsense.EFORBIDDEN, "only admins may take backups"))
		return
	}
	rc := http.NewResponseController(w)
	start := time.Now()
	bw := &stallWriter{w: w, rc: rc}
	n, err := s.backup.Backup(bw, func(size int64, epoch string) error {
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		h.Set("Cache-Control", "no-store")
		h.Set("Tripsense-Epoch", epoch)
		h.Set("Content-Disposition", `attachment; filename="tripsense-`+epoch+`.db"`)
		w.WriteHeader(http.StatusOK)
		return nil
	})
	switch {
	case err == nil:
		s.log.InfoContext(r.Context(), "backup sent", requestAttrs(r, http.StatusOK, slog.Int64("bytes", n),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))...)
	case n == 0 && !bw.started:
		s.writeError(w, r, err)
	default:
		s.log.WarnContext(r.Context(), "backup cut short", requestAttrs(r, http.StatusOK, slog.Int64("bytes", n), slog.Any("error", err))...)
		panic(http.ErrAbortHandler)
	}
}

// stallWriter moves the connection's write deadline on before each write,
// so a backup of any size streams as long as the client keeps reading.
type stallWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	started bool
}

func (s *stallWriter) Write(p []byte) (int, error) {
	s.started = true
	_ = s.rc.SetWriteDeadline(time.Now().Add(backupStall))
	return s.w.Write(p)
}

// readyz answers 200 {"status":"ready"} when the server accepts traffic
// and its store answers a read; else 503 {"status":"unavailable","reason":…}:
// while it starts or shuts down, or when the store fails (closed, disk
// error). It needs no identity.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "starting or shutting down"})
		return
	}
	if s.check != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.check(ctx); err != nil {
			// The error stays in the log: it may name files.
			s.log.WarnContext(r.Context(), "readiness check failed", slog.Any("error", err))
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "the store does not answer"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// epochHeader sets Tripsense-Epoch on every answer.
func epochHeader(epoch string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Tripsense-Epoch", epoch)
			next.ServeHTTP(w, r)
		})
	}
}
