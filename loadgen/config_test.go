package loadgen

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseTargetLoopbackOnly(t *testing.T) {
	t.Parallel()
	ok := map[string]target{
		"http://127.0.0.1:8080": {HostPort: "127.0.0.1:8080", HTTP: "http://127.0.0.1:8080", WS: "ws://127.0.0.1:8080/ws"},
		"ws://127.0.0.1:9/ws":   {HostPort: "127.0.0.1:9", HTTP: "http://127.0.0.1:9", WS: "ws://127.0.0.1:9/ws"},
		"http://[::1]:8080/":    {HostPort: "[::1]:8080", HTTP: "http://[::1]:8080", WS: "ws://[::1]:8080/ws"},
		"http://localhost:8080": {HostPort: "localhost:8080", HTTP: "http://localhost:8080", WS: "ws://localhost:8080/ws"},
		"http://LocalHost:8080": {HostPort: "localhost:8080", HTTP: "http://localhost:8080", WS: "ws://localhost:8080/ws"},
	}
	for in, want := range ok {
		got, err := parseTarget(in)
		if err != nil || got != want {
			t.Errorf("parseTarget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	refused := []string{
		"http://10.0.0.1:8080",
		"http://192.168.1.20:8080",
		"http://0.0.0.0:8080",
		"http://127.0.0.2:8080", // loopback, but not one of the three allowed hosts
		"http://example.com:8080",
		"http://localhost.example.com:8080",
		"http://[::]:8080",
		"http://[::ffff:127.0.0.1]:8080",
		"https://127.0.0.1:8443",
		"wss://127.0.0.1:8443",
		"ftp://127.0.0.1:21",
		"http://127.0.0.1",   // no port
		"http://127.0.0.1:0", // no real port
		"http://127.0.0.1:99999",
		"http://user:pw@127.0.0.1:8080",
		"http://127.0.0.1:8080/v1",
		"http://127.0.0.1:8080/?x=1",
		"127.0.0.1:8080",
		"",
	}
	for _, in := range refused {
		if got, err := parseTarget(in); err == nil {
			t.Errorf("parseTarget(%q) = %+v, want an error", in, got)
		}
	}
}

func TestMainRefusesNonLoopbackURLBeforeAnyIO(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := Main(ctx, []string{"--url", "http://203.0.113.7:8080", "--conns", "2", "--room-size", "2", "--senders", "1"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Main with a non-loopback URL: err = %v, want a refusal", err)
	}
	if stdout.Len() != 0 {
		t.Fatalf("nothing must run; stdout = %q", stdout.String())
	}
}

func TestParseArgsPresetsAndOverrides(t *testing.T) {
	t.Parallel()
	cfgs, err := parseArgs([]string{"--preset", "latency", "--duration", "3s", "--url", "http://127.0.0.1:9000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := cfgs[0]
	if c.Preset != "latency" || c.Mode != ModeFanout || c.Conns != 1000 || c.RoomSize != 10 || c.Rate != 50_000 {
		t.Fatalf("latency preset = %+v", c)
	}
	if c.Duration != 3*time.Second || c.URL != "http://127.0.0.1:9000" {
		t.Fatalf("explicit flags must win over the preset: duration %v url %s", c.Duration, c.URL)
	}

	cfgs, err = parseArgs([]string{"--preset", "peer-10,peer-10-paced,peer-1000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p10, paced, p1000 := cfgs[0], cfgs[1], cfgs[2]
	if p10.Conns != 1000 || p10.RoomSize != 10 || p10.Senders != 4 || p10.Window != 256 || p10.Size != 200 || p10.Rate != 0 || p10.SendRate != 0 {
		t.Fatalf("peer-10 preset = %+v", p10)
	}
	if paced.Senders != 4 || paced.Window != 256 || paced.SendRate != 5000 || paced.Rate != 0 {
		t.Fatalf("peer-10-paced preset = %+v", paced)
	}
	if p1000.Conns != 1000 || p1000.RoomSize != 1000 || p1000.Senders != 1 || p1000.Window != 256 || p1000.SendRate != 0 {
		t.Fatalf("peer-1000 preset = %+v", p1000)
	}

	cfgs, err = parseArgs([]string{"--preset", "fanout-10,durable", "--durable-senders", "2,4"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 || cfgs[0].RoomSize != 10 || cfgs[1].Mode != ModeDurable || len(cfgs[1].SenderCounts) != 2 || cfgs[1].SenderCounts[1] != 4 {
		t.Fatalf("two presets = %+v", cfgs)
	}

	var stderr bytes.Buffer
	cfgs, err = parseArgs([]string{"--preset", "all"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfgs {
		if c.Mode == ModeIdle {
			t.Fatal("all without --pid must skip idle")
		}
	}
	if !strings.Contains(stderr.String(), "skipping preset idle") {
		t.Fatalf("stderr = %q", stderr.String())
	}
	cfgs, err = parseArgs([]string{"--preset", "all", "--pid", "1"}, io.Discard)
	if err != nil || len(cfgs) != len(presetNames) {
		t.Fatalf("all with --pid: %d configs, %v", len(cfgs), err)
	}
}

func TestParseArgsValidation(t *testing.T) {
	t.Parallel()
	bad := map[string][]string{
		"non-loopback url":        {"--url", "http://8.8.8.8:80"},
		"rate and send-rate":      {"--rate", "100", "--send-rate", "10"},
		"rate in rooms of 1":      {"--room-size", "1", "--conns", "4", "--senders", "1", "--rate", "10"},
		"room larger than conns":  {"--conns", "5", "--room-size", "10", "--senders", "1"},
		"more senders than conns": {"--conns", "5", "--room-size", "5", "--senders", "6"},
		"tiny size":               {"--size", "10"},
		"huge size":               {"--size", "20000"},
		"zero duration":           {"--duration", "0s"},
		"warmup >= duration":      {"--duration", "2s", "--warmup", "2s"},
		"zero messages":           {"--messages", "0"},
		"window 0":                {"--window", "0"},
		"unknown mode":            {"--mode", "chaos"},
		"unknown preset":          {"--preset", "fanout-7"},
		"bad prefix":              {"--prefix", "a b"},
		"durable senders":         {"--mode", "durable", "--durable-senders", "0"},
		"catchup missed":          {"--mode", "catchup", "--missed", "0"},
		"idle count":              {"--mode", "idle", "--idle", "0"},
		"stray argument":          {"extra"},
		"unknown flag":            {"--nope"},
	}
	for name, args := range bad {
		if _, err := parseArgs(args, io.Discard); err == nil {
			t.Errorf("%s: parseArgs(%q) succeeded, want an error", name, args)
		}
	}
	if _, err := parseArgs(nil, io.Discard); err != nil {
		t.Fatalf("defaults must be valid: %v", err)
	}
}

func TestSendInterval(t *testing.T) {
	t.Parallel()
	c := defaults()
	c.Rate = 50_000 // deliveries/s in rooms of 10: 5,555.6 sends/s
	got := sendInterval(c, 1000, 10)
	want := time.Duration(1000 / (50_000.0 / 9) * float64(time.Second))
	if got != want {
		t.Fatalf("interval = %v, want %v", got, want)
	}
	c.Rate, c.SendRate = 0, 100
	if got := sendInterval(c, 10, 1); got != 100*time.Millisecond {
		t.Fatalf("send-rate interval = %v, want 100ms", got)
	}
	c.SendRate = 0
	if got := sendInterval(c, 10, 10); got != 0 {
		t.Fatalf("unpaced interval = %v, want 0", got)
	}
}
