package localexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// logReader reads a worker log from an offset; following, it waits for
// more until the task has exited.
type logReader struct {
	ctx    context.Context
	e      *Executor
	t      *task
	path   string
	f      *os.File
	off    int64
	follow bool
	tick   <-chan time.Time
	stop   func()
}

func (r *logReader) open() error {
	if r.f != nil {
		return nil
	}
	f, err := os.Open(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // not started yet
	}
	if err != nil {
		return err
	}
	r.f = f
	return nil
}

func (r *logReader) Read(p []byte) (int, error) {
	for {
		exited := r.exited()
		if err := r.open(); err != nil {
			return 0, err
		}
		if r.f != nil {
			n, err := r.f.ReadAt(p, r.off)
			r.off += int64(n)
			if n > 0 {
				return n, nil
			}
			if err != nil && err != io.EOF {
				return 0, err
			}
		}
		if !r.follow || exited {
			return 0, io.EOF
		}
		if r.tick == nil {
			r.tick, r.stop = r.e.opts.Clock.NewTicker(r.e.opts.PollInterval)
		}
		select {
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		case <-r.e.closed:
			return 0, fmt.Errorf("localexec: logs: %w", errClosed)
		case <-r.t.done:
		case <-r.tick:
		}
	}
}

func (r *logReader) exited() bool {
	select {
	case <-r.t.done:
		return true
	default:
		return false
	}
}

func (r *logReader) Close() error {
	if r.stop != nil {
		r.stop()
	}
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}
