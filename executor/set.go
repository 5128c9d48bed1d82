package executor

import (
	"errors"
	"slices"
	"strings"

	"github.com/atelier-dev/atelier"
)

// Set holds the executors of a server by driver name, with a default one
// (ATELIER_EXECUTOR); a flavor's executor picks another by name. It is
// safe for concurrent use once built.
type Set struct {
	def string
	m   map[string]*Executor
}

// NewSet returns the set of execs, whose default is the one named def.
func NewSet(def string, execs ...*Executor) (*Set, error) {
	s := &Set{def: def, m: map[string]*Executor{}}
	for _, e := range execs {
		if _, dup := s.m[e.Name()]; dup {
			return nil, errors.New("executor: two executors named " + e.Name())
		}
		s.m[e.Name()] = e
	}
	if _, ok := s.m[def]; !ok {
		return nil, errors.New("executor: the default executor " + def + " is not in the set")
	}
	return s, nil
}

// Default is the default executor's name.
func (s *Set) Default() string { return s.def }

// Names lists the executors' names, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.m))
	for n := range s.m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Get returns the executor named name, the default for "".
func (s *Set) Get(name string) (*Executor, error) {
	if name == "" {
		name = s.def
	}
	e, ok := s.m[name]
	if !ok {
		return nil, atelier.CodeInvalidParam.Errorf("The executor %q is not configured on this server (it has %s).", name, strings.Join(s.Names(), ", ")).WithField("executor")
	}
	return e, nil
}

// For returns the executor of a handle; ErrNotFound when the server has
// no executor of its driver.
func (s *Set) For(h *Handle) (*Executor, error) {
	if h == nil {
		return nil, ErrNotFound
	}
	e, ok := s.m[h.Driver]
	if !ok {
		return nil, ErrNotFound
	}
	return e, nil
}

// Close closes every executor.
func (s *Set) Close() error {
	var errs []error
	for _, e := range s.m {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
}
