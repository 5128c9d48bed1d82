package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadDir(t *testing.T) {
	tr, err := ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Invocations) != 3 || len(tr.Durations) != 3 || len(tr.Memory) != 2 {
		t.Fatalf("read %d functions, %d durations, %d apps", len(tr.Invocations), len(tr.Durations), len(tr.Memory))
	}
	f := tr.Invocations[0]
	if f.Owner != "o1" || f.App != "a1" || f.Function != "f1" || f.Trigger != "http" || len(f.Counts) != 1440 ||
		f.Counts[0] != 3 || f.Counts[5] != 1 || f.Counts[1439] != 2 {
		t.Errorf("first function = %+v", f)
	}
	if d := tr.Durations[2]; d.Average != 250.5 || d.Count != 1440 || d.P != [7]float64{3, 5, 100, 200, 300, 2500, 3000} {
		t.Errorf("durations = %+v", d)
	}
	if m := tr.Memory[1]; m.App != "a2" || m.SampleCount != 1440 || m.Average != 512 || m.P[7] != 640 {
		t.Errorf("memory = %+v", m)
	}
}

func TestGenerateRoundTrip(t *testing.T) {
	tr := Generate(GenerateConfig{Apps: 6, Seed: 7})
	dir := t.TempDir()
	if err := tr.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{InvocationsFile, DurationsFile, MemoryFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	back, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tr, back) {
		t.Error("the trace read back differs from the one written")
	}
	head, _ := os.ReadFile(filepath.Join(dir, InvocationsFile))
	if !strings.HasPrefix(string(head), "HashOwner,HashApp,HashFunction,Trigger,1,2,3,") || !strings.Contains(string(head[:20000]), ",1439,1440\n") {
		t.Error("the invocations header is not the Azure schema's")
	}
}

func TestGenerateIsSeeded(t *testing.T) {
	a, b := Generate(GenerateConfig{Apps: 5, Seed: 1}), Generate(GenerateConfig{Apps: 5, Seed: 1})
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave two traces")
	}
	if c := Generate(GenerateConfig{Apps: 5, Seed: 2}); reflect.DeepEqual(a, c) {
		t.Error("two seeds gave the same trace")
	}
	if len(a.Memory) != 5 || len(a.Invocations) < 5 || len(a.Durations) != len(a.Invocations) {
		t.Errorf("%d apps, %d functions, %d durations", len(a.Memory), len(a.Invocations), len(a.Durations))
	}
}

func TestReadErrors(t *testing.T) {
	for name, tt := range map[string]struct {
		read func(string) error
		in   string
	}{
		"no trigger":        {readInv, "HashOwner,HashApp,HashFunction,1\no,a,f,1\n"},
		"no minutes":        {readInv, "HashOwner,HashApp,HashFunction,Trigger\no,a,f,http\n"},
		"negative count":    {readInv, "HashOwner,HashApp,HashFunction,Trigger,1\no,a,f,http,-1\n"},
		"short row":         {readInv, "HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,1\n"},
		"empty":             {readInv, ""},
		"durations columns": {readDur, "HashOwner,HashApp,HashFunction,Average\n"},
		"durations NaN":     {readDur, "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100\no,a,f,NaN,1,1,1,1,1,1,1,1,1,1\n"},
		"memory columns":    {readMem, "HashOwner,HashApp,SampleCount\n"},
	} {
		if err := tt.read(tt.in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func readInv(s string) error { _, err := ReadInvocations(strings.NewReader(s)); return err }
func readDur(s string) error { _, err := ReadDurations(strings.NewReader(s)); return err }
func readMem(s string) error { _, err := ReadMemory(strings.NewReader(s)); return err }

func addSeeds(f *testing.F, file string, more ...string) {
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range more {
		f.Add([]byte(s))
	}
}

func FuzzReadInvocations(f *testing.F) {
	addSeeds(f, InvocationsFile, "HashOwner,HashApp,HashFunction,Trigger,2,1\no,a,f,http,3,\n", "\ufeffHashOwner,HashApp,HashFunction,Trigger,1\n\"o\n\",a,f,t,1\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := ReadInvocations(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, fc := range fs {
			if len(fc.Counts) == 0 || len(fc.Counts) > maxMinutes {
				t.Fatalf("%d minutes", len(fc.Counts))
			}
			for _, n := range fc.Counts {
				if n < 0 {
					t.Fatalf("count %d", n)
				}
			}
		}
	})
}

func FuzzReadDurations(f *testing.F) {
	addSeeds(f, DurationsFile)
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := ReadDurations(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, d := range ds {
			for _, p := range d.P {
				if p < 0 || p != p {
					t.Fatalf("percentile %v", p)
				}
			}
		}
	})
}

func FuzzReadMemory(f *testing.F) {
	addSeeds(f, MemoryFile)
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ReadMemory(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.Average < 0 || m.SampleCount < 0 {
				t.Fatalf("memory %+v", m)
			}
		}
	})
}
