package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/internal/clock"
)

func TestRenderedLine(t *testing.T) {
	const mib = 1 << 20
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	var buf bytes.Buffer
	b := New(&buf, Options{Clock: clk, Force: true})
	b.SetTotal(4, 10*mib)
	steps := []struct {
		advance time.Duration
		add     int64
		files   int
		want    string
	}{
		{time.Second, 1 * mib, 0, "1.0 MiB / 10.0 MiB (10%)  1.0 MiB/s  ETA 9s  files 0/4  1s"},
		{time.Second, 1 * mib, 1, "2.0 MiB / 10.0 MiB (20%)  1.0 MiB/s  ETA 8s  files 1/4  2s"},
		{2 * time.Second, 4 * mib, 2, "6.0 MiB / 10.0 MiB (60%)  1.5 MiB/s  ETA 3s  files 3/4  4s"},
		// The window forgets the first 2 s: 6 MiB over the last 5 s.
		{3 * time.Second, 2 * mib, 0, "8.0 MiB / 10.0 MiB (80%)  1.2 MiB/s  ETA 2s  files 3/4  7s"},
		{time.Second, 2 * mib, 1, "10.0 MiB / 10.0 MiB (100%)  1.3 MiB/s  ETA 0s  files 4/4  8s"},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		b.Add(s.add)
		// Add redrew (a second passed); FileDone in the same instant does not.
		if drawn := b.Line(); !strings.HasSuffix(buf.String(), "\r"+drawn+"\x1b[K") {
			t.Errorf("step %d: drawn %q, want it to end with %q", i, buf.String(), drawn)
		}
		for range s.files {
			b.FileDone()
		}
		if got := b.Line(); got != s.want {
			t.Errorf("step %d: line\n %q\nwant\n %q", i, got, s.want)
		}
	}
	b.Finish()
	if !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("Finish did not end the line: %q", buf.String())
	}
}

func TestRedrawAtMostTenTimesASecond(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	var buf bytes.Buffer
	b := New(&buf, Options{Clock: clk, Force: true})
	b.SetTotal(1, 1000)
	for range 100 {
		clk.Advance(10 * time.Millisecond)
		b.Add(1)
	}
	// One draw for SetTotal, then one per 100 ms of the second that passed.
	if n := strings.Count(buf.String(), "\r"); n != 11 {
		t.Errorf("drew %d times in 1s, want 11", n)
	}
}

func TestDisabledDrawsNothing(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, Options{Clock: clock.NewFake(time.Unix(0, 0))})
	if b.Enabled() {
		t.Fatal("a bytes.Buffer is not a terminal, yet the bar is enabled")
	}
	b.SetTotal(1, 10)
	b.Add(10)
	b.FileDone()
	b.Finish()
	if buf.Len() != 0 {
		t.Errorf("disabled bar wrote %q", buf.String())
	}
}

func TestConcurrentAdd(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	var buf bytes.Buffer
	b := New(&buf, Options{Clock: clk, Force: true})
	b.SetTotal(8, 8000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				b.Add(1)
			}
			b.FileDone()
		})
	}
	wg.Wait()
	if got := b.Line(); !strings.HasPrefix(got, "7.8 KiB / 7.8 KiB (100%)") || !strings.Contains(got, "files 8/8") {
		t.Errorf("line after concurrent adds = %q", got)
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {5 << 30, "5.0 GiB"}}
	for _, tt := range tests {
		if got := FormatBytes(tt.n); got != tt.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// TestLineFitsTheWidth is the finding: at 40 columns the line wrapped, so
// every redraw started a new line. Each drawn line now fits in the width
// less one column (no wrap at the last column either): the name is cut from
// the left first, then the last fields go, then the name.
func TestLineFitsTheWidth(t *testing.T) {
	const gib = 1 << 30
	name := "obs://training-data/imagenet/train/n01440764/n01440764_10026.JPEG"
	for _, width := range []int{20, 40, 60, 80, 200} {
		clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
		var buf bytes.Buffer
		b := New(&buf, Options{Clock: clk, Force: true, Width: width})
		b.SetName(name)
		b.SetTotal(1200, 150*gib)
		for range 30 {
			clk.Advance(time.Second)
			b.Add(700 << 20)
			b.FileDone()
		}
		b.Finish()
		for _, line := range strings.Split(buf.String(), "\r") {
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\x1b[K")
			if w := displayWidth(line); w >= width {
				t.Errorf("width %d: drew %q, %d columns", width, line, w)
			}
		}
		last := b.Line()
		switch width {
		case 200:
			if !strings.HasPrefix(last, name+"  ") || !strings.HasSuffix(last, "files 30/1200  30s") {
				t.Errorf("width 200: %q, want the whole name and every field", last)
			}
		case 80:
			if want := "…_10026.JPEG  20.5 GiB / 150.0 GiB (13%)  700.0 MiB/s  ETA 3m09s  files 30/1200"; last != want {
				t.Errorf("width 80: %q, want %q (the name's end, the elapsed time left out)", last, want)
			}
		case 40:
			if want := "…10026.JPEG  20.5 GiB / 150.0 GiB (13%)"; last != want {
				t.Errorf("width 40: %q, want %q", last, want)
			}
		}
	}
}

func TestFit(t *testing.T) {
	tests := []struct {
		width  int
		name   string
		fields []string
		want   string
	}{
		{0, "name", []string{"a", "b"}, "name  a  b"},
		{40, "", []string{"1.0 MiB", "2 s"}, "1.0 MiB  2 s"},
		{20, "a/long/path/to/file.txt", []string{"1.0 MiB"}, "…/file.txt  1.0 MiB"},
		{15, "a/long/path/to/file.txt", []string{"1.0 MiB", "ETA 3s"}, "1.0 MiB"},
		{16, "", []string{"1.0 MiB", "ETA 3s"}, "1.0 MiB  ETA 3s"},
		{10, "a/long/path/to/file.txt", []string{"1.0 MiB", "ETA 3s"}, "1.0 MiB"},
		{5, "x", []string{"1.0 MiB"}, "1.0 "},
		// Wide characters take two columns.
		{20, "数据集/图片/猫.jpg", []string{"1.0 MiB"}, "…片/猫.jpg  1.0 MiB"},
	}
	for _, tt := range tests {
		got := Fit(tt.width, tt.name, tt.fields...)
		if got != tt.want {
			t.Errorf("Fit(%d, %q, %q) = %q, want %q", tt.width, tt.name, tt.fields, got, tt.want)
		}
		if tt.width > 0 && displayWidth(got) >= tt.width {
			t.Errorf("Fit(%d, …) = %q: %d columns", tt.width, got, displayWidth(got))
		}
	}
}
