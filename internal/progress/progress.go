// Package progress draws a one-line transfer progress bar (the file's name,
// bytes done and total, a moving-average rate, the ETA and files done) on a
// terminal, fitted to the terminal's width so that it never wraps.
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
	// Width is the line's width in columns; 0 asks the terminal at each
	// redraw (no limit when the writer is not one).
	Width int
}

// Bar is a progress bar. A disabled bar (its writer is not a terminal)
// accepts every call and draws nothing. It is safe for concurrent use.
type Bar struct {
	w       io.Writer
	clk     clock.Clock
	enabled bool
	width   int // Options.Width

	mu         sync.Mutex
	name       string
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
	return &Bar{w: w, clk: clk, enabled: enabled, width: opts.Width, start: now, samples: []sample{{now, 0}}}
}

// Width returns the width lines are fitted to: Options.Width, else the
// terminal's columns, else 0 (no limit).
func (b *Bar) Width() int {
	if b.width > 0 {
		return b.width
	}
	if f, ok := b.w.(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
	}
	return 0
}

// SetName sets the name shown first on the line (a file being moved); a
// long one is cut from the left to fit the width.
func (b *Bar) SetName(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.name = name
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
	return b.renderLocked(b.clk.Now(), b.Width())
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
	fmt.Fprintf(b.w, "\r%s\x1b[K", b.renderLocked(now, b.Width()))
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

// renderLocked lays the line out in width columns (0: no limit).
func (b *Bar) renderLocked(now time.Time, width int) string {
	bytes := FormatBytes(b.doneBytes)
	if b.totalBytes > 0 {
		bytes += fmt.Sprintf(" / %s (%d%%)", FormatBytes(b.totalBytes), b.doneBytes*100/b.totalBytes)
	}
	fields := []string{bytes}
	rate := b.rateLocked()
	fields = append(fields, FormatBytes(int64(rate))+"/s")
	if b.totalBytes > 0 {
		left := b.totalBytes - b.doneBytes
		switch {
		case left <= 0:
			fields = append(fields, "ETA 0s")
		case rate > 0:
			fields = append(fields, "ETA "+formatDuration(time.Duration(float64(left)/rate*float64(time.Second))))
		default:
			fields = append(fields, "ETA --")
		}
	}
	if b.totalFiles > 0 {
		fields = append(fields, fmt.Sprintf("files %d/%d", b.doneFiles, b.totalFiles))
	}
	fields = append(fields, formatDuration(now.Sub(b.start)))
	return Fit(width, b.name, fields...)
}

// minName is the fewest columns a name is cut to before it is left out.
const minName = 10

// Fit lays out a status line in fewer than width columns (0: no limit), so
// that a terminal of that width never wraps it: name, then the fields, two
// spaces apart. When it does not fit, the name is cut from the left (its end
// tells files apart) down to minName columns, then the last fields are left
// out, then the name; the first field is always shown, cut at the width
// if it must be.
func Fit(width int, name string, fields ...string) string {
	join := func(n int) string { return strings.Join(fields[:n], "  ") }
	if width <= 0 {
		if name == "" {
			return join(len(fields))
		}
		return strings.Join(append([]string{name}, fields...), "  ")
	}
	budget := width - 1
	for n := len(fields); n >= 1; n-- {
		stats := join(n)
		if name == "" {
			if displayWidth(stats) <= budget {
				return stats
			}
			continue
		}
		room := budget - displayWidth(stats) - 2
		if room >= min(displayWidth(name), minName) {
			return cutLeft(name, room) + "  " + stats
		}
	}
	for n := len(fields); n >= 1; n-- {
		if stats := join(n); displayWidth(stats) <= budget {
			return stats
		}
	}
	if len(fields) == 0 {
		return cutLeft(name, budget)
	}
	return cutRight(fields[0], budget)
}

// cutLeft returns s, or "…" and as much of its end as fits in cols columns.
func cutLeft(s string, cols int) string {
	if displayWidth(s) <= cols {
		return s
	}
	rs := []rune(s)
	used, i := 1, len(rs) // the ellipsis takes one column
	for i > 0 && used+runeWidth(rs[i-1]) <= cols {
		i--
		used += runeWidth(rs[i])
	}
	return "…" + string(rs[i:])
}

// cutRight returns as much of the start of s as fits in cols columns.
func cutRight(s string, cols int) string {
	used := 0
	for i, r := range s {
		if used+runeWidth(r) > cols {
			return s[:i]
		}
		used += runeWidth(r)
	}
	return s
}

// displayWidth is the columns s takes on a terminal.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// runeWidth is the columns r takes on a terminal: 2 for the East Asian wide
// and full-width ranges (CJK, Hangul, full-width forms, most emoji), 0 for
// control and combining characters, else 1.
func runeWidth(r rune) int {
	switch {
	case r < 0x20 || (r >= 0x7f && r < 0xa0):
		return 0
	case r >= 0x300 && r <= 0x36f, r >= 0x200b && r <= 0x200f, r == 0xfe0f:
		return 0
	case r >= 0x1100 && r <= 0x115f, r >= 0x2e80 && r <= 0x303e, r >= 0x3041 && r <= 0x33ff,
		r >= 0x3400 && r <= 0x4dbf, r >= 0x4e00 && r <= 0x9fff, r >= 0xa000 && r <= 0xa4cf,
		r >= 0xac00 && r <= 0xd7a3, r >= 0xf900 && r <= 0xfaff, r >= 0xfe30 && r <= 0xfe4f,
		r >= 0xff00 && r <= 0xff60, r >= 0xffe0 && r <= 0xffe6, r >= 0x1f300 && r <= 0x1f64f,
		r >= 0x1f900 && r <= 0x1f9ff, r >= 0x20000 && r <= 0x3fffd:
		return 2
	}
	return 1
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
