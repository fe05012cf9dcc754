package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tripsense/tripsense/store/bolt"
)

// runBackup downloads a consistent snapshot of the running server's store
// (GET /v1/admin/backup, as an admin) into --out. The file is written next
// to --out, checked (length, bbolt's page check, every bucket) and only
// then renamed into place, so --out is either the previous file or a whole
// backup.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(getenv, "TRIPSENSE_ADDR", "127.0.0.1:8080"), "the running server (TRIPSENSE_ADDR)")
	out := fs.String("out", "", "file to write the backup to (required)")
	timeout := fs.Duration("timeout", time.Hour, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stderr, "backup: --out is required")
		fs.Usage()
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+*addr+"/v1/admin/backup", nil)
	if err != nil {
		return err
	}
	if err := adminCredentials(req, getenv); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask the server at %s: %w (is it running? --addr / TRIPSENSE_ADDR)", *addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("the server at %s answered %s: %s", *addr, resp.Status, strings.TrimSpace(string(msg)))
	}
	tmp := *out + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // a no-op once renamed
	start := time.Now()
	n, err := io.Copy(f, resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if want := resp.ContentLength; want >= 0 && n != want {
		return fmt.Errorf("download cut short: %d of %d bytes", n, want)
	}
	epoch, err := bolt.CheckBackup(tmp)
	if err != nil {
		return err
	}
	if h := resp.Header.Get("Tripsense-Epoch"); h != "" && h != epoch {
		return fmt.Errorf("the backup's epoch %q is not the one the server announced (%q)", epoch, h)
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup of epoch %s: %d bytes in %s -> %s\n", epoch, n, time.Since(start).Round(time.Millisecond), *out)
	return nil
}

// runRestore replaces the data directory's store with a backup, while the
// server is stopped. The restored store gets a new epoch; the replaced
// file stays beside it.
func runRestore(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr(getenv, "TRIPSENSE_DATA", "./data"), "data directory (TRIPSENSE_DATA)")
	in := fs.String("in", "", "backup file to restore (from tripsense backup; required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *in == "" {
		fmt.Fprintln(stderr, "restore: --in is required")
		fs.Usage()
		return errUsage
	}
	if err := os.MkdirAll(*data, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	res, err := bolt.Restore(storePath(*data), *in, time.Now())
	if errors.Is(err, bolt.ErrInUse) {
		return fmt.Errorf("data dir %s is in use by another tripsense: stop the server, then restore", *data)
	}
	if err != nil {
		return err
	}
	// A restored store is not a first start: the demo data must not be
	// added to it.
	if err := os.WriteFile(filepath.Join(*data, demoMarker), []byte("restored from a backup: demo users and rooms are not loaded\n"), 0o640); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s (backup epoch %s) into %s: new epoch %s; clients that see it drop their cursors and sync from 0\n", *in, res.BackupEpoch, storePath(*data), res.Epoch)
	if res.Previous != "" {
		fmt.Fprintf(stdout, "the store it replaced is kept as %s\n", res.Previous)
	}
	return nil
}

// runCompact rewrites a stopped server's store without its free pages.
func runCompact(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr(getenv, "TRIPSENSE_DATA", "./data"), "data directory (TRIPSENSE_DATA)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	before, after, kept, err := bolt.Compact(storePath(*data), time.Now())
	if errors.Is(err, bolt.ErrInUse) {
		return fmt.Errorf("data dir %s is in use by another tripsense: stop the server, then compact", *data)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "compacted %s: %s -> %s bytes; the previous file is kept as %s (delete it once the server runs)\n",
		storePath(*data), strconv.FormatInt(before, 10), strconv.FormatInt(after, 10), kept)
	return nil
}

// runHealthcheck asks the local server's /readyz (the container image's
// HEALTHCHECK: distroless has no curl) and fails unless it answers 200.
// An address on all interfaces (0.0.0.0, [::], :8080) is asked on
// loopback.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(getenv, "TRIPSENSE_ADDR", "127.0.0.1:8080"), "the server's listen address (TRIPSENSE_ADDR)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("--addr (TRIPSENSE_ADDR) %q: want host:port", *addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s %s", resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprint(stdout, string(body))
	return nil
}
