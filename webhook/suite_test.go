package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/tripsense/tripsense/store/memory"
	"github.com/tripsense/tripsense/webhook"
	"github.com/tripsense/tripsense/webhook/webhooktest"
)

// TestDispatcherSuite runs the shared suite on the single binary's path:
// the store's outbox and the Dispatcher (retries due at the next pass here:
// one-second backoffs, and the clock moves a second per pass).
func TestDispatcherSuite(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T, url string) webhooktest.Runtime {
		st := memory.New()
		st.Outbox = true
		for _, u := range []string{"alice", "bob", "carol"} {
			if err := st.AddMember(context.Background(), "trip", u); err != nil {
				t.Fatal(err)
			}
		}
		snd, err := webhook.NewSender(url, webhooktest.Secret, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		var passes time.Duration
		d := &webhook.Dispatcher{Outbox: st, Source: st, Online: webhooktest.Online{}, Sender: snd,
			MinBackoff: time.Second, MaxBackoff: time.Second, Now: func() time.Time { return time.Now().Add(passes) }}
		return webhooktest.Runtime{Store: st, Deliver: func(*testing.T) {
			passes += time.Second
			d.Pass(context.Background())
		}}
	})
}
