package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
)

// runWebhooks shows the webhook outbox (tripsense webhooks [list]) or
// replays failed events (tripsense webhooks replay [--seq N]): from the
// data directory when the server is stopped, else through the running
// server's admin routes (GET /v1/webhooks, POST /v1/webhooks/replay).
func runWebhooks(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	verb := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		verb, args = args[0], args[1:]
	}
	if verb != "list" && verb != "replay" {
		fmt.Fprintln(stderr, "usage: tripsense webhooks [list | replay [--seq N]] [--data DIR] [--addr HOST:PORT]")
		return errUsage
	}
	fs := flag.NewFlagSet("webhooks "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr(getenv, "TRIPSENSE_DATA", "./data"), "data directory (TRIPSENSE_DATA)")
	addr := fs.String("addr", envOr(getenv, "TRIPSENSE_ADDR", "127.0.0.1:8080"), "the running server to ask when the data directory is in use (TRIPSENSE_ADDR)")
	seq := fs.Uint64("seq", 0, "replay: the one event to replay (0: every failed one)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	st, err := openStoreOffline(*data, "asking the running server instead")
	if err != nil {
		out, herr := webhooksViaServer(ctx, *addr, verb, *seq, getenv)
		if herr != nil {
			return fmt.Errorf("%w; asking the server at %s failed too: %v", err, *addr, herr)
		}
		_, err := stdout.Write(out)
		return err
	}
	defer st.Close()
	if verb == "replay" {
		n, err := st.OutboxReplay(ctx, *seq, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "replayed %d\n", n)
		return nil
	}
	es, err := st.OutboxList(ctx, 1000)
	if err != nil {
		return err
	}
	pending, failed := 0, 0
	for _, e := range es {
		state := "pending"
		if e.Failed {
			state = "failed"
			failed++
		} else {
			pending++
		}
		fmt.Fprintf(stdout, "%d\t%s\t%s\tattempts=%d\tcreated=%s\t%s\n", e.Seq, tripsense.EventID(e.Room, e.Index), state, e.Attempts, tripsense.FormatTime(e.CreatedAt), e.LastError)
	}
	fmt.Fprintf(stdout, "pending %d, failed %d\n", pending, failed)
	return nil
}

func webhooksViaServer(ctx context.Context, addr, verb string, seq uint64, getenv func(string) string) ([]byte, error) {
	var req *http.Request
	var err error
	if verb == "replay" {
		body, _ := json.Marshal(map[string]uint64{"seq": seq})
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/webhooks/replay", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/webhooks", nil)
	}
	if err != nil {
		return nil, err
	}
	if secret := getenv("TRIPSENSE_TOKEN_SECRET"); secret != "" {
		tk, err := auth.NewToken(secret)
		if err != nil {
			return nil, err
		}
		tok, err := tk.Mint("tripsense-cli", time.Minute, true)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	} else {
		req.Header.Set("X-User-Id", strings.TrimSpace(strings.Split(envOr(getenv, "TRIPSENSE_ADMINS", "admin"), ",")[0]))
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}
