package local

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"runtime"
	"testing"

	stdflate "compress/flate"

	"github.com/klauspost/compress/flate"
)

// The cost of permessage-deflate (RFC 7692) on the fan-out path, measured
// before deciding whether to offer it (docs/benchmarks.md, "WebSocket
// compression"). Each benchmark op is one delivery of a ~200-byte chat
// message frame to one connection, written like socket.writeBatch writes
// it (frame header and payload into the connection's buffered writer, one
// flush), into io.Discard so that only the CPU work is measured:
//
//   - plain: the write path as it is;
//   - deflate-shared: no context takeover, the frame compressed once per
//     message and the same bytes written to every recipient (what a
//     server can do when every connection negotiated
//     server_no_context_takeover): per delivery, the compression divided
//     by the room's size (100 here) plus the write;
//   - deflate-no-context-takeover: compressed for each delivery with a
//     reset compressor (pooled, as one per connection would be too big);
//   - deflate-context-takeover: each connection keeps its compressor (and
//     its 32 KiB window) across messages, the default of RFC 7692 and the
//     best ratio: compressed for each delivery, and one compressor per
//     connection held for the connection's life.
//
// Run: go test ./ws/local -run '^$' -bench BenchmarkDeflateDelivery -benchmem

// chatFrame is a message frame as the server sends it (200 bytes).
var chatFrame = []byte(`{"type":"message","chatroomId":"uuidroom2","index":123456,"userId":"uuid1","chatMessage":"Landing at 18:40, pick me up at T2?","messageType":"text","createTime":"2026-12-01T12:00:00.000Z","clientMsgId":"c-9f1e2d3c"}`)

// chatFrames are 8192 different frames of about that size (other index,
// time, id and text), so that a compressor keeping its window sees a
// realistic stream (the keys repeat, the values do not), not the same
// frame again: with 100 connections a benchmark repeats a frame to a
// connection only after 819,200 deliveries.
var chatFrames = func() [][]byte {
	texts := []string{"Landing at 18:40, pick me up at T2?", "ok, on my way", "Which gate? The board says 14B", "running 10 min late, sorry!!",
		"Dinner at Luigi's at 8 then?", "👍", "can you send the hotel address again", "Boarding now. See you tomorrow"}
	out := make([][]byte, 8192)
	for i := range out {
		text := fmt.Sprintf("%s (%d)", texts[(i*5)%len(texts)], (i*7919)%10007)
		out[i] = fmt.Appendf(nil, `{"type":"message","chatroomId":"uuidroom%d","index":%d,"userId":"uuid%d","chatMessage":%q,"messageType":"text","createTime":"2026-12-01T%02d:%02d:%02d.%03dZ","clientMsgId":"c-%08x"}`,
			i%7, 123456+i, 1+i%5, text, (i/3600)%24, (i/60)%60, i%60, (i*37)%1000, uint32(i)*2654435761)
	}
	return out
}()

// compressor is what both flate packages' writers offer.
type compressor interface {
	Reset(io.Writer)
	Write([]byte) (int, error)
	Flush() error
}

// deflateTail is what a sync flush ends with and RFC 7692 strips.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// compressMessage compresses p with fw (reset onto out when reset is
// set, else continuing its stream) and returns the payload of the frame:
// the sync-flushed block without its tail.
func compressMessage(fw compressor, out *bytes.Buffer, p []byte, reset bool) []byte {
	out.Reset()
	if reset {
		fw.Reset(out)
	}
	_, _ = fw.Write(p)
	_ = fw.Flush()
	return bytes.TrimSuffix(out.Bytes(), deflateTail)
}

// writeCompressed writes an unmasked final text frame with RSV1 (the
// compressed bit) set.
func writeCompressed(bw *bufio.Writer, payload []byte) {
	_ = bw.WriteByte(0x80 | 0x40 | 0x1)
	_ = bw.WriteByte(byte(len(payload))) // < 126 for a chat message
	_, _ = bw.Write(payload)
}

func BenchmarkDeflateDelivery(b *testing.B) {
	const roomSize = 100
	fast := func(w io.Writer) compressor { fw, _ := flate.NewWriter(w, flate.BestSpeed); return fw }
	std := func(w io.Writer) compressor { fw, _ := stdflate.NewWriter(w, stdflate.BestSpeed); return fw }
	b.Run("plain", func(b *testing.B) {
		bw := bufio.NewWriterSize(io.Discard, writeBufferSize)
		wire, i := 0, 0
		for b.Loop() {
			f := chatFrames[i%len(chatFrames)]
			i++
			writeTextHeader(bw, len(f))
			_, _ = bw.Write(f)
			_ = bw.Flush()
			wire += 2 + len(f)
		}
		b.ReportMetric(float64(wire)/float64(i), "wire-bytes/op")
	})
	run := func(name string, newc func(io.Writer) compressor, perConn, shared bool) {
		b.Run(name, func(b *testing.B) {
			bw := bufio.NewWriterSize(io.Discard, writeBufferSize)
			n := 1
			if perConn {
				n = roomSize // each connection its own compressor and window
			}
			outs := make([]bytes.Buffer, n)
			cs := make([]compressor, n)
			for i := range cs {
				cs[i] = newc(&outs[i])
			}
			var payload []byte
			wire, i := 0, 0
			for b.Loop() {
				c := i % n
				switch {
				case shared && i%roomSize != 0: // the message's bytes, compressed for the first recipient
				default:
					// One message per room-size deliveries when shared, else
					// the next message for every delivery.
					msg := i
					if shared {
						msg = i / roomSize
					}
					payload = compressMessage(cs[c], &outs[c], chatFrames[msg%len(chatFrames)], !perConn)
				}
				i++
				writeCompressed(bw, payload)
				_ = bw.Flush()
				wire += 2 + len(payload)
			}
			b.ReportMetric(float64(wire)/float64(i), "wire-bytes/op")
		})
	}
	run("deflate-shared", fast, false, true)
	run("deflate-no-context-takeover", fast, false, false)
	run("deflate-no-context-takeover-stdlib", std, false, false)
	run("deflate-context-takeover", fast, true, false)
	run("deflate-context-takeover-stdlib", std, true, false)
}

// TestDeflateCompressorSize reports the heap one compressor holds: the
// memory context takeover costs per connection for its whole life.
func TestDeflateCompressorSize(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	const n = 20
	keep := make([]*flate.Writer, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keep {
		keep[i], _ = flate.NewWriter(io.Discard, flate.BestSpeed)
		_, _ = keep[i].Write(chatFrame)
		_ = keep[i].Flush()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	runtime.KeepAlive(keep)
	t.Logf("one BestSpeed compressor (klauspost/compress) holds %.0f KiB (10,000 connections: %.0f MiB)", per/1024, per*10000/(1<<20))
	if per <= 0 {
		t.Fatalf("measured %v bytes", per)
	}
}
