package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/bolt"
)

// openStoreOffline opens the data directory's store for a subcommand. The
// embedded store allows one process at a time, so this fails fast while the
// server runs.
// hint is what to do instead while the server runs.
func openStoreOffline(dataDir, hint string) (*bolt.Store, error) {
	st, err := bolt.Open(storePath(dataDir), bolt.Options{LockTimeout: time.Second})
	if errors.Is(err, bolt.ErrInUse) {
		return nil, fmt.Errorf("data dir %s is in use by another tripsense (the server?); %s", dataDir, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", storePath(dataDir), err)
	}
	return st, nil
}

// membersHint and messagesHint say what to do while the server at addr
// holds the store.
func membersHint(addr string) string {
	return fmt.Sprintf("listing members reads the store, so stop the server first (members add and remove go through the running server at %s by themselves)", addr)
}

func messagesHint(addr, room string) string {
	return fmt.Sprintf("ask the running server: curl -s 'http://%s/v1/rooms/%s/messages?after=0' -H 'X-User-Id: A_MEMBER' (or Authorization: Bearer TOKEN)", addr, url.PathEscape(room))
}

// parseFlags parses a subcommand's flags: -h is errHelp (exit 0), a bad
// flag errUsage (exit 2), both after the flag package printed why.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return errUsage
	}
	return nil
}

func runMembers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: tripsense members add|remove|list --room ROOM [--user USER] [--data DIR]")
		return errUsage
	}
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("members "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr(getenv, "TRIPSENSE_DATA", "./data"), "data directory (TRIPSENSE_DATA)")
	addr := fs.String("addr", envOr(getenv, "TRIPSENSE_ADDR", "127.0.0.1:8080"), "the running server to ask when the data directory is in use (TRIPSENSE_ADDR)")
	room := fs.String("room", "", "room id")
	user := fs.String("user", "", "user id")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !tripsense.ValidID(*room) {
		return errors.New("--room must be 1-128 characters of [A-Za-z0-9_.:@-]")
	}
	if verb != "list" && !tripsense.ValidID(*user) {
		return errors.New("--user must be 1-128 characters of [A-Za-z0-9_.:@-]")
	}
	if verb != "add" && verb != "remove" && verb != "list" {
		return fmt.Errorf("unknown members command %q: want add, remove or list", verb)
	}
	st, err := openStoreOffline(*data, membersHint(*addr))
	if err != nil {
		// The server holds the store: add and remove go through its admin
		// API instead, which also updates the members' live connections.
		if verb == "list" {
			return err
		}
		if herr := membersViaServer(ctx, *addr, verb, *room, *user, getenv); herr != nil {
			return fmt.Errorf("%w; asking the server at %s failed too: %v", err, *addr, herr)
		}
		fmt.Fprintf(stdout, "%s (through the server at %s)\n", membersDone(verb, *room, *user), *addr)
		return nil
	}
	defer st.Close()
	switch verb {
	case "add":
		if err := st.AddMember(ctx, *room, *user); err != nil {
			return err
		}
		fmt.Fprintln(stdout, membersDone(verb, *room, *user))
	case "remove":
		if err := st.RemoveMember(ctx, *room, *user); err != nil {
			return err
		}
		fmt.Fprintln(stdout, membersDone(verb, *room, *user))
	case "list":
		members, err := st.Members(ctx, *room)
		if err != nil {
			return err
		}
		for _, m := range members {
			fmt.Fprintln(stdout, m)
		}
	}
	return nil
}

func membersDone(verb, room, user string) string {
	if verb == "add" {
		return "added " + user + " to " + room
	}
	return "removed " + user + " from " + room
}

// membersViaServer adds or removes a member through the running server's
// admin API: as the first dev-mode admin, or with a short-lived admin token
// minted from TRIPSENSE_TOKEN_SECRET when it is set.
func membersViaServer(ctx context.Context, addr, verb, room, user string, getenv func(string) string) error {
	base := "http://" + addr + "/v1/rooms/" + url.PathEscape(room) + "/members"
	var req *http.Request
	var err error
	if verb == "add" {
		body, _ := json.Marshal(map[string]string{"userId": user})
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodDelete, base+"/"+url.PathEscape(user), nil)
	}
	if err != nil {
		return err
	}
	if err := adminCredentials(req, getenv); err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// adminCredentials makes req an admin's: a one-minute admin token minted
// from TRIPSENSE_TOKEN_SECRET when it is set (token mode), else the first of
// TRIPSENSE_ADMINS as X-User-Id (dev mode).
func adminCredentials(req *http.Request, getenv func(string) string) error {
	if secret := getenv("TRIPSENSE_TOKEN_SECRET"); secret != "" {
		tk, err := auth.NewToken(secret)
		if err != nil {
			return fmt.Errorf("TRIPSENSE_TOKEN_SECRET: %w", err)
		}
		tok, err := tk.Mint("tripsense-cli", time.Minute, true)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
	admin := strings.TrimSpace(strings.Split(envOr(getenv, "TRIPSENSE_ADMINS", "admin"), ",")[0])
	req.Header.Set("X-User-Id", admin)
	return nil
}

// runMessages prints a room's messages as JSON lines, for operators and for
// the crash tests that read back what the server acknowledged.
func runMessages(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("messages", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr(getenv, "TRIPSENSE_DATA", "./data"), "data directory (TRIPSENSE_DATA)")
	addr := fs.String("addr", envOr(getenv, "TRIPSENSE_ADDR", "127.0.0.1:8080"), "the running server, for the hint when the data directory is in use (TRIPSENSE_ADDR)")
	room := fs.String("room", "", "room id")
	after := fs.Int64("after", 0, "print messages with index > after")
	limit := fs.Int("limit", 0, "print at most this many (0: all)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !tripsense.ValidID(*room) {
		return errors.New("--room must be 1-128 characters of [A-Za-z0-9_.:@-]")
	}
	st, err := openStoreOffline(*data, messagesHint(*addr, *room))
	if err != nil {
		return err
	}
	defer st.Close()
	buf := make([]byte, 0, 4096)
	printed := 0
	for *limit == 0 || printed < *limit {
		page := tripsense.MaxPageLimit
		if *limit > 0 {
			page = min(page, *limit-printed)
		}
		msgs, err := st.MessagesAfter(ctx, *room, *after, page)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			break
		}
		for i := range msgs {
			buf = msgs[i].AppendJSON(buf[:0], "")
			buf = append(buf, '\n')
			if _, err := stdout.Write(buf); err != nil {
				return err
			}
		}
		printed += len(msgs)
		*after = msgs[len(msgs)-1].Index
	}
	return nil
}

func runToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "user id (the token's sub)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime, at most TRIPSENSE_MAX_TOKEN_TTL (default 24h)")
	admin := fs.Bool("admin", false, "grant admin (member management)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *user == "" {
		fmt.Fprintln(stderr, "token: --user is required")
		fs.Usage()
		return errUsage
	}
	tk, err := auth.NewToken(getenv("TRIPSENSE_TOKEN_SECRET"))
	if err != nil {
		return fmt.Errorf("TRIPSENSE_TOKEN_SECRET: %w", err)
	}
	// The server refuses tokens that live longer than its --max-token-ttl;
	// minting one would only produce a token nobody accepts.
	if tk.MaxLifetime, err = envDuration(getenv, "TRIPSENSE_MAX_TOKEN_TTL", auth.DefaultMaxLifetime); err != nil {
		return err
	}
	s, err := tk.Mint(*user, *ttl, *admin)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, s)
	return nil
}
