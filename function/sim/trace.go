package sim

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The file names of one day of the Azure Functions 2019 trace
// (AzurePublicDataset, "Azure Functions Trace 2019").
const (
	InvocationsFile = "invocations_per_function_md.anon.d01.csv"
	DurationsFile   = "function_durations_percentiles.anon.d01.csv"
	MemoryFile      = "app_memory_percentiles.anon.d01.csv"
)

// Trace is one day of an invocation trace in the Azure 2019 schema.
type Trace struct {
	Invocations []FunctionCounts
	Durations   []FunctionDurations
	Memory      []AppMemory
}

// FunctionCounts is a row of invocations_per_function_md: a function's
// invocations in each minute of the day.
type FunctionCounts struct {
	Owner, App, Function, Trigger string
	Counts                        []int // per minute; 1,440 in a full day
}

// FunctionDurations is a row of function_durations_percentiles, in
// milliseconds.
type FunctionDurations struct {
	Owner, App, Function string
	Average              float64
	Count                int
	Minimum, Maximum     float64
	// Percentiles 0, 1, 25, 50, 75, 99 and 100.
	P [7]float64
}

// DurationPercentiles are the percentiles FunctionDurations.P holds.
var DurationPercentiles = [7]float64{0, 1, 25, 50, 75, 99, 100}

// AppMemory is a row of app_memory_percentiles, in MB.
type AppMemory struct {
	Owner, App  string
	SampleCount int
	Average     float64
	// Percentiles 1, 5, 25, 50, 75, 95, 99 and 100.
	P [8]float64
}

// MemoryPercentiles are the percentiles AppMemory.P holds.
var MemoryPercentiles = [8]float64{1, 5, 25, 50, 75, 95, 99, 100}

var (
	durationHeader = []string{"HashOwner", "HashApp", "HashFunction", "Average", "Count", "Minimum", "Maximum",
		"percentile_Average_0", "percentile_Average_1", "percentile_Average_25", "percentile_Average_50",
		"percentile_Average_75", "percentile_Average_99", "percentile_Average_100"}
	memoryHeader = []string{"HashOwner", "HashApp", "SampleCount", "AverageAllocatedMb",
		"AverageAllocatedMb_pct1", "AverageAllocatedMb_pct5", "AverageAllocatedMb_pct25", "AverageAllocatedMb_pct50",
		"AverageAllocatedMb_pct75", "AverageAllocatedMb_pct95", "AverageAllocatedMb_pct99", "AverageAllocatedMb_pct100"}
)

// maxMinutes bounds the per-minute columns a reader accepts (a day).
const maxMinutes = 1440

// header maps column names to their index and checks that want are there.
func header(rec []string, want []string) (map[string]int, error) {
	idx := make(map[string]int, len(rec))
	for i, h := range rec {
		idx[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	for _, w := range want {
		if _, ok := idx[w]; !ok {
			return nil, fmt.Errorf("no column %q", w)
		}
	}
	return idx, nil
}

func newReader(r io.Reader) *csv.Reader {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	cr.FieldsPerRecord = 0 // every row as wide as the header
	return cr
}

// ReadInvocations reads an invocations_per_function_md file. The minute
// columns are "1" to "N" (N ≤ 1,440), in any order.
func ReadInvocations(r io.Reader) ([]FunctionCounts, error) {
	cr := newReader(r)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("invocations: header: %w", err)
	}
	idx, err := header(head, []string{"HashOwner", "HashApp", "HashFunction", "Trigger"})
	if err != nil {
		return nil, fmt.Errorf("invocations: %w", err)
	}
	minutes := 0
	for minutes < maxMinutes {
		if _, ok := idx[strconv.Itoa(minutes+1)]; !ok {
			break
		}
		minutes++
	}
	if minutes == 0 {
		return nil, errors.New(`invocations: no minute columns ("1", "2", …)`)
	}
	var out []FunctionCounts
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("invocations: %w", err)
		}
		f := FunctionCounts{Owner: rec[idx["HashOwner"]], App: rec[idx["HashApp"]], Function: rec[idx["HashFunction"]],
			Trigger: rec[idx["Trigger"]], Counts: make([]int, minutes)}
		for m := range f.Counts {
			s := strings.TrimSpace(rec[idx[strconv.Itoa(m+1)]])
			if s == "" {
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 1e7 {
				return nil, fmt.Errorf("invocations: line %d, minute %d: bad count %q", line, m+1, s)
			}
			f.Counts[m] = n
		}
		out = append(out, f)
	}
}

// ReadDurations reads a function_durations_percentiles file.
func ReadDurations(r io.Reader) ([]FunctionDurations, error) {
	cr := newReader(r)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("durations: header: %w", err)
	}
	idx, err := header(head, durationHeader)
	if err != nil {
		return nil, fmt.Errorf("durations: %w", err)
	}
	var out []FunctionDurations
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("durations: %w", err)
		}
		d := FunctionDurations{Owner: rec[idx["HashOwner"]], App: rec[idx["HashApp"]], Function: rec[idx["HashFunction"]]}
		nums := make([]float64, len(durationHeader)-3)
		for i, col := range durationHeader[3:] {
			if nums[i], err = number(rec[idx[col]]); err != nil {
				return nil, fmt.Errorf("durations: line %d, %s: %w", line, col, err)
			}
		}
		d.Average, d.Count, d.Minimum, d.Maximum = nums[0], int(nums[1]), nums[2], nums[3]
		copy(d.P[:], nums[4:])
		out = append(out, d)
	}
}

// ReadMemory reads an app_memory_percentiles file.
func ReadMemory(r io.Reader) ([]AppMemory, error) {
	cr := newReader(r)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("memory: header: %w", err)
	}
	idx, err := header(head, memoryHeader)
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	var out []AppMemory
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("memory: %w", err)
		}
		m := AppMemory{Owner: rec[idx["HashOwner"]], App: rec[idx["HashApp"]]}
		nums := make([]float64, len(memoryHeader)-2)
		for i, col := range memoryHeader[2:] {
			if nums[i], err = number(rec[idx[col]]); err != nil {
				return nil, fmt.Errorf("memory: line %d, %s: %w", line, col, err)
			}
		}
		m.SampleCount, m.Average = int(nums[0]), nums[1]
		copy(m.P[:], nums[2:])
		out = append(out, m)
	}
}

// number parses a non-negative finite number; the real files have integer
// and decimal cells.
func number(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f > 1e15 || f != f {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return f, nil
}

// ReadDir reads the three files of one day from dir. The invocations file
// may be any day's (…d01…d14); the durations and memory files are optional.
func ReadDir(dir string) (*Trace, error) {
	inv, err := firstMatch(dir, "invocations_per_function_md.anon.d*.csv")
	if err != nil {
		return nil, err
	}
	t := &Trace{}
	if err := readFile(inv, func(r io.Reader) (err error) { t.Invocations, err = ReadInvocations(r); return }); err != nil {
		return nil, err
	}
	if p, err := firstMatch(dir, "function_durations_percentiles.anon.d*.csv"); err == nil {
		if err := readFile(p, func(r io.Reader) (err error) { t.Durations, err = ReadDurations(r); return }); err != nil {
			return nil, err
		}
	}
	if p, err := firstMatch(dir, "app_memory_percentiles.anon.d*.csv"); err == nil {
		if err := readFile(p, func(r io.Reader) (err error) { t.Memory, err = ReadMemory(r); return }); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func firstMatch(dir, pattern string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) == 0 {
		return "", fmt.Errorf("%s: no %s", dir, pattern)
	}
	sort.Strings(m)
	return m[0], nil
}

func readFile(path string, read func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := read(f); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

// WriteDir writes the trace as the three d01 files in dir.
func (t *Trace) WriteDir(dir string) error {
	minutes := maxMinutes
	if len(t.Invocations) > 0 {
		minutes = len(t.Invocations[0].Counts)
	}
	inv := [][]string{{"HashOwner", "HashApp", "HashFunction", "Trigger"}}
	for m := 1; m <= minutes; m++ {
		inv[0] = append(inv[0], strconv.Itoa(m))
	}
	for _, f := range t.Invocations {
		rec := []string{f.Owner, f.App, f.Function, f.Trigger}
		for m := 0; m < minutes; m++ {
			n := 0
			if m < len(f.Counts) {
				n = f.Counts[m]
			}
			rec = append(rec, strconv.Itoa(n))
		}
		inv = append(inv, rec)
	}
	dur := [][]string{durationHeader}
	for _, d := range t.Durations {
		rec := []string{d.Owner, d.App, d.Function, ftoa(d.Average), strconv.Itoa(d.Count), ftoa(d.Minimum), ftoa(d.Maximum)}
		for _, p := range d.P {
			rec = append(rec, ftoa(p))
		}
		dur = append(dur, rec)
	}
	mem := [][]string{memoryHeader}
	for _, m := range t.Memory {
		rec := []string{m.Owner, m.App, strconv.Itoa(m.SampleCount), ftoa(m.Average)}
		for _, p := range m.P {
			rec = append(rec, ftoa(p))
		}
		mem = append(mem, rec)
	}
	for name, rows := range map[string][][]string{InvocationsFile: inv, DurationsFile: dur, MemoryFile: mem} {
		if err := writeCSV(filepath.Join(dir, name), rows); err != nil {
			return err
		}
	}
	return nil
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func writeCSV(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	if err := w.WriteAll(rows); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
