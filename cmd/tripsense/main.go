// Command tripsense is the single-binary Tripsense chat backend: WebSocket
// live chat and the HTTP catch-up API on one port, over an embedded durable
// store. Subcommands manage room membership, read messages back, mint tokens
// and drive load.
//
//	tripsense [serve] [flags]      run the server (default)
//	tripsense members add|remove|list --room R [--user U]
//	tripsense messages --room R [--after N] [--limit N]
//	tripsense token --user U [--ttl 1h] [--admin]
//	tripsense bench [flags]
//	tripsense backup --out FILE [--addr A]
//	tripsense restore --in FILE [--data DIR]
//	tripsense compact [--data DIR]
//	tripsense version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tripsense/tripsense/cmd/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `usage: tripsense [command] [flags]

commands:
  serve      run the server (the default when no command is given)
  members    add, remove or list room members:  tripsense members add --room uuidroom1 --user uuid3
  messages   print a room's stored messages as JSON lines (server stopped)
  compact    rewrite the data file without free pages, so deleted text leaves it (server stopped)
  token      mint a signed token:  tripsense token --user uuid1 --ttl 1h [--admin]
  bench      drive a running server with load (see docs/benchmarks.md)
  backup     copy a consistent snapshot of the running server's store:  tripsense backup --out tripsense.bak
  restore    replace a stopped server's store with a backup:  tripsense restore --in tripsense.bak
  compact    rewrite a stopped server's store without its free pages
  healthcheck  exit 0 if the local server is ready (GET /readyz; the container's health check)
  version    print the version (also: tripsense --version)

Run 'tripsense COMMAND -h' for a command's flags.
`

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		args[0] = "version"
	}
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, args, getenv, stderr)
	case "members":
		err = runMembers(ctx, args, getenv, stdout, stderr)
	case "messages":
		err = runMessages(ctx, args, getenv, stdout, stderr)
	case "token":
		err = runToken(args, getenv, stdout, stderr)
	case "bench":
		err = runBench(ctx, args, stdout, stderr)
	case "backup":
		err = runBackup(ctx, args, getenv, stdout, stderr)
	case "restore":
		err = runRestore(ctx, args, getenv, stdout, stderr)
	case "compact":
		err = runCompact(ctx, args, getenv, stdout, stderr)
	case "healthcheck":
		err = runHealthcheck(ctx, args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, buildinfo.Get())
		return 0
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tripsense: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err == errHelp {
		return 0
	}
	if err == errUsage {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "tripsense %s: %v\n", cmd, err)
		return 1
	}
	return 0
}
