package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/bolt"
)

// openStoreOffline opens the data directory's store for a subcommand. The
// embedded store allows one process at a time, so this fails fast while the
// server runs.
func openStoreOffline(dataDir string) (*bolt.Store, error) {
	st, err := bolt.Open(storePath(dataDir), bolt.Options{LockTimeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (is the server running? then use the HTTP API: curl -X POST localhost:8080/v1/rooms/ROOM/members -H 'X-User-Id: admin' -H 'Content-Type: application/json' -d '{\"userId\":\"USER\"}')", storePath(dataDir), err)
	}
	return st, nil
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
	room := fs.String("room", "", "room id")
	user := fs.String("user", "", "user id")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if !tripsense.ValidID(*room) {
		return errors.New("--room must be 1-128 characters of [A-Za-z0-9_.:@-]")
	}
	if verb != "list" && !tripsense.ValidID(*user) {
		return errors.New("--user must be 1-128 characters of [A-Za-z0-9_.:@-]")
	}
	st, err := openStoreOffline(*data)
	if err != nil {
		return err
	}
	defer st.Close()
	switch verb {
	case "add":
		if err := st.AddMember(ctx, *room, *user); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s to %s\n", *user, *room)
	case "remove":
		if err := st.RemoveMember(ctx, *room, *user); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s from %s\n", *user, *room)
	case "list":
		members, err := st.Members(ctx, *room)
		if err != nil {
			return err
		}
		for _, m := range members {
			fmt.Fprintln(stdout, m)
		}
	default:
		return fmt.Errorf("unknown members command %q: want add, remove or list", verb)
	}
	return nil
}

// runMessages prints a room's messages as JSON lines, for operators and for
// the crash tests that read back what the server acknowledged.
func runMessages(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("messages", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr(getenv, "TRIPSENSE_DATA", "./data"), "data directory (TRIPSENSE_DATA)")
	room := fs.String("room", "", "room id")
	after := fs.Int64("after", 0, "print messages with index > after")
	limit := fs.Int("limit", 0, "print at most this many (0: all)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if !tripsense.ValidID(*room) {
		return errors.New("--room must be 1-128 characters of [A-Za-z0-9_.:@-]")
	}
	st, err := openStoreOffline(*data)
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
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	admin := fs.Bool("admin", false, "grant admin (member management)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	tk, err := auth.NewToken(getenv("TRIPSENSE_TOKEN_SECRET"))
	if err != nil {
		return fmt.Errorf("TRIPSENSE_TOKEN_SECRET: %w", err)
	}
	s, err := tk.Mint(*user, *ttl, *admin)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, s)
	return nil
}
