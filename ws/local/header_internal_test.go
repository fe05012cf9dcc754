package local

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// TestWriteTextHeaderMatchesGobwas checks our allocation-free header writer
// against the library's encoder at every length class boundary.
func TestWriteTextHeaderMatchesGobwas(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 125, 126, 127, 1000, 0xFFFF, 0x10000, 1 << 20} {
		var ours, theirs bytes.Buffer
		bw := bufio.NewWriter(&ours)
		writeTextHeader(bw, n)
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := ws.WriteHeader(&theirs, ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(n)}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours.Bytes(), theirs.Bytes()) {
			t.Fatalf("length %d: header % x, want % x", n, ours.Bytes(), theirs.Bytes())
		}
	}
}

func BenchmarkWriteTextHeader(b *testing.B) {
	bw := bufio.NewWriterSize(&bytes.Buffer{}, 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		writeTextHeader(bw, 300)
		if bw.Buffered() > 1<<19 {
			bw.Reset(&bytes.Buffer{})
		}
	}
}
