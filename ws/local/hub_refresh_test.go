package local_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws/local"
)

// TestRefreshWhileOthersReadTheConnection: an auth refresh (SetAdmin,
// SetExpiry) while connects and frames read the user's connections (Get,
// UserConnections) is safe (run with -race), and readers see the latest
// flag and expiry.
func TestRefreshWhileOthersReadTheConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hub := local.NewHub(local.HubOptions{})
	t.Cleanup(func() { hub.CloseAll(1001, "test over") })
	start := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	if _, err := hub.Register(ctx, tripsense.Connection{ID: "c", UserID: "u", ExpiresAt: start}, []string{"r"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 500 {
			_ = hub.SetAdmin(ctx, "c", i%2 == 0)
			_ = hub.SetExpiry(ctx, "c", start.Add(time.Duration(i)*time.Second))
		}
	}()
	go func() {
		defer wg.Done()
		for range 500 {
			_, _ = hub.Get(ctx, "c")
			_, _ = hub.UserConnections(ctx, "u")
		}
	}()
	wg.Wait()
	if err := hub.SetAdmin(ctx, "c", true); err != nil {
		t.Fatal(err)
	}
	exp := start.Add(2 * time.Hour)
	if err := hub.SetExpiry(ctx, "c", exp); err != nil {
		t.Fatal(err)
	}
	got, err := hub.Get(ctx, "c")
	if err != nil || !got.Admin || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("Get = %+v, %v; want admin and expiry %s", got, err, exp)
	}
	conns, _ := hub.UserConnections(ctx, "u")
	if len(conns) != 1 || !conns[0].Admin || !conns[0].ExpiresAt.Equal(exp) {
		t.Fatalf("UserConnections = %+v", conns)
	}
	if err := hub.SetAdmin(ctx, "gone", true); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("SetAdmin of an unknown connection: %v", err)
	}
}
