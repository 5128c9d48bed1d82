package obs_test

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/obs"
	"github.com/atelier-dev/atelier/obs/blobstore"
	"github.com/atelier-dev/atelier/obs/obstest"
)

// BenchmarkPutObject4KiB puts 4 KiB objects from 16 goroutines into the file
// backend and the SQLite store, and reports puts/s.
func BenchmarkPutObject4KiB(b *testing.B) {
	be, err := blobstore.OpenBackend(b.Context(), "file://"+filepath.ToSlash(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	h := newHarness(b, be, obs.Options{})
	h.mustBucket(b, "bench")
	data := bytes.Repeat([]byte("x"), 4<<10)
	var n atomic.Int64
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0))) // about 16 goroutines in all
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("k/%d", n.Add(1))
			if _, err := h.svc.PutObject(h.ctx, "bench", key, bytes.NewReader(data), atelier.PutOptions{Size: int64(len(data))}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkStreamLargeObject puts and gets a 64 MiB object through the file
// backend; allocated bytes per op stay flat however large the object is.
func BenchmarkStreamLargeObject(b *testing.B) {
	for _, size := range []int64{8 << 20, 64 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			be, err := blobstore.OpenBackend(b.Context(), "file://"+filepath.ToSlash(b.TempDir()))
			if err != nil {
				b.Fatal(err)
			}
			h := newHarness(b, be, obs.Options{})
			h.mustBucket(b, "bench")
			b.SetBytes(2 * size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.svc.PutObject(h.ctx, "bench", "big", obstest.NewGenReader(size), atelier.PutOptions{Size: size}); err != nil {
					b.Fatal(err)
				}
				_, rc, _, err := h.svc.GetObject(h.ctx, "bench", "big", nil)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, rc); err != nil || n != size {
					b.Fatalf("read %d bytes, %v", n, err)
				}
				rc.Close()
			}
			b.ReportMetric(float64(2*size)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}
