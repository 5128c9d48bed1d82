// Package progress draws a one-line transfer progress bar (bytes done and
// total, a moving-average rate, the ETA and files done) on a terminal.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/atelier-dev/atelier/internal/clock"
	"golang.org/x/term"
)

// Interval is the shortest time between two redraws.
const Interval = 100 * time.Millisecond

// Window is how far back the rate's moving average looks.
const Window = 5 * time.Second

// Options configure a Bar.
type Options struct {
	Clock clock.Clock // default clock.Real{}
	// Force draws even when the writer is not a terminal (for tests).
	Force bool
}

// Bar is a progress bar. A disabled bar (its writer is not a terminal)
// accepts every call and draws nothing. It is safe for concurrent use.
type Bar struct {
	w       io.Writer
	clk     clock.Clock
	enabled bool

	mu         sync.Mutex
	start      time.Time
	lastDraw   time.Time
	drawn      bool
	totalBytes int64
	doneBytes  int64
	totalFiles int
	doneFiles  int
	samples    []sample // (time, doneBytes) within Window, oldest first
}

type sample struct {
	at    time.Time
	bytes int64
}

// New returns a bar writing to w. It draws only when w is a terminal, or when
// opts.Force is set.
func New(w io.Writer, opts Options) *Bar {
	clk := opts.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	enabled := opts.Force
	if f, ok := w.(*os.File); ok && !enabled {
		enabled = term.IsTerminal(int(f.Fd()))
	}
	now := clk.Now()
	return &Bar{w: w, clk: clk, enabled: enabled, start: now, samples: []sample{{now, 0}}}
}

// NewStderr returns a bar on standard error, drawn only when it is a terminal.
func NewStderr() *Bar { return New(os.Stderr, Options{}) }

// Enabled reports whether the bar draws anything.
func (b *Bar) Enabled() bool { return b.enabled }

// SetTotal sets how many files and bytes the transfer moves.
func (b *Bar) SetTotal(files int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.totalFiles, b.totalBytes = files, bytes
	b.maybeDraw(false)
}

// Add records n more bytes moved.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.doneBytes += n
	b.maybeDraw(false)
}

// FileDone records one more file finished.
func (b *Bar) FileDone() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.doneFiles++
	b.maybeDraw(false)
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.enabled {
		return
	}
	b.maybeDraw(true)
	fmt.Fprintln(b.w)
}

// Line renders the bar as it stands now, without drawing it.
func (b *Bar) Line() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sampleLocked(b.clk.Now())
	return b.renderLocked(b.clk.Now())
}

// maybeDraw redraws when the last draw is at least Interval old, or always
// when force is set. The caller holds b.mu.
func (b *Bar) maybeDraw(force bool) {
	if !b.enabled {
		return
	}
	now := b.clk.Now()
	if !force && b.drawn && now.Sub(b.lastDraw) < Interval {
		return
	}
	b.sampleLocked(now)
	b.lastDraw, b.drawn = now, true
	fmt.Fprintf(b.w, "\r%s\x1b[K", b.renderLocked(now))
}

// sampleLocked records the bytes done at now and drops samples older than
// Window, keeping at least one to measure from.
func (b *Bar) sampleLocked(now time.Time) {
	if last := b.samples[len(b.samples)-1]; now.After(last.at) {
		b.samples = append(b.samples, sample{now, b.doneBytes})
	} else {
		b.samples[len(b.samples)-1].bytes = b.doneBytes
	}
	i := 0
	for i < len(b.samples)-2 && now.Sub(b.samples[i+1].at) >= Window {
		i++
	}
	b.samples = b.samples[i:]
}

// rateLocked is the average rate, in bytes per second, over the samples kept.
func (b *Bar) rateLocked() float64 {
	first, last := b.samples[0], b.samples[len(b.samples)-1]
	d := last.at.Sub(first.at).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(last.bytes-first.bytes) / d
}

func (b *Bar) renderLocked(now time.Time) string {
	var sb strings.Builder
	sb.WriteString(FormatBytes(b.doneBytes))
	if b.totalBytes > 0 {
		fmt.Fprintf(&sb, " / %s (%d%%)", FormatBytes(b.totalBytes), b.doneBytes*100/b.totalBytes)
	}
	rate := b.rateLocked()
	fmt.Fprintf(&sb, "  %s/s", FormatBytes(int64(rate)))
	if b.totalBytes > 0 {
		left := b.totalBytes - b.doneBytes
		switch {
		case left <= 0:
			sb.WriteString("  ETA 0s")
		case rate > 0:
			sb.WriteString("  ETA " + formatDuration(time.Duration(float64(left)/rate*float64(time.Second))))
		default:
			sb.WriteString("  ETA --")
		}
	}
	if b.totalFiles > 0 {
		fmt.Fprintf(&sb, "  files %d/%d", b.doneFiles, b.totalFiles)
	}
	fmt.Fprintf(&sb, "  %s", formatDuration(now.Sub(b.start)))
	return sb.String()
}

// FormatBytes renders n in binary units with one decimal, e.g. "1.5 MiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// formatDuration renders d rounded to the second, e.g. "1m05s".
func formatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
