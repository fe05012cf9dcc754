package main

import (
	"context"
	"io"

	"github.com/tripsense/tripsense/loadgen"
)

// runBench drives a running server with load; see package loadgen.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return loadgen.Main(ctx, args, stdout, stderr)
}
