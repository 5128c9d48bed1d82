package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// MustDataset creates an image classification dataset of the tenant.
func MustDataset(t testing.TB, s store.Store, tenantID, name string) *atelier.Dataset {
	t.Helper()
	d := &atelier.Dataset{ID: atelier.NewID(), TenantID: tenantID, Name: name, DataType: atelier.DataImage,
		DatasetType: atelier.DatasetImageClassification, DataPath: "/bucket/" + name + "/",
		WorkPath: "/bucket/work/", CreatedAt: epoch, UpdatedAt: epoch}
	must(t, s.CreateDataset(ctxFor(t), d), "CreateDataset")
	return d
}

// newSamples returns n samples with sources prefix000000, prefix000001, …;
// labels(i) gives the labels of sample i (nil: not annotated), each label
// with an image classification annotation.
func newSamples(prefix string, n int, labels func(i int) []string) []*atelier.Sample {
	out := make([]*atelier.Sample, n)
	for i := range n {
		s := &atelier.Sample{Source: fmt.Sprintf("s3://bucket/%s%06d.jpg", prefix, i), CreatedAt: epoch, UpdatedAt: epoch}
		if labels != nil {
			for _, l := range labels(i) {
				s.Labels = append(s.Labels, l)
				s.Annotations = append(s.Annotations, atelier.Annotation{Type: "modelarts/image_classification", Name: l,
					AnnotatedBy: "human"})
			}
		}
		out[i] = s
	}
	return out
}

// sampleIDs returns the samples' ids, nil for none.
func sampleIDs(ss []*atelier.Sample) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func sources(ss []*atelier.Sample) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Source
	}
	return out
}

// listAll pages through ListSamples with f and page size limit, checking
// that pages are full until the last.
func listAll(t testing.TB, s store.Store, datasetID string, f atelier.SampleFilter, limit int) []*atelier.Sample {
	t.Helper()
	var all []*atelier.Sample
	f.Limit, f.After = limit, ""
	for range 10000 {
		page, err := s.ListSamples(ctxFor(t), datasetID, f)
		must(t, err, "ListSamples")
		if len(page) > limit {
			t.Fatalf("ListSamples with Limit %d returned %d", limit, len(page))
		}
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
		f.After = page[len(page)-1].ID
	}
	t.Fatal("ListSamples never ended")
	return nil
}

func wantCounts(t testing.TB, s store.Store, tenantID, datasetID string, total, annotated int64, what string) {
	t.Helper()
	d, err := s.GetDataset(ctxFor(t), tenantID, datasetID)
	must(t, err, "GetDataset")
	if d.SampleCount != total || d.AnnotatedCount != annotated {
		t.Errorf("%s: dataset counts %d samples, %d annotated, want %d, %d", what, d.SampleCount, d.AnnotatedCount,
			total, annotated)
	}
	st, err := s.SampleStats(ctxFor(t), datasetID)
	must(t, err, "SampleStats")
	if st.Total != total || st.Annotated != annotated {
		t.Errorf("%s: SampleStats counts %d, %d, want %d, %d", what, st.Total, st.Annotated, total, annotated)
	}
}

func testDatasets(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	d := &atelier.Dataset{ID: atelier.NewID(), TenantID: t1.ID, Name: "triplets", Description: "medical",
		DataType: atelier.DataText, DatasetType: atelier.DatasetTextTriplet, DataPath: "/bucket/text/",
		WorkPath: "/bucket/work/",
		Labels: []atelier.Label{
			{Name: "疾病", Type: atelier.LabelEntity, Color: "#ff0000"},
			{Name: "又称为", Type: atelier.LabelRelation, Property: map[string]string{
				"@modelarts:from_type": "疾病", "@modelarts:to_type": "疾病"}},
			{Name: "plain", Type: atelier.LabelPlain, Property: map[string]string{}},
		},
		CreatedAt: epoch.Add(123 * time.Nanosecond), UpdatedAt: epoch.Add(time.Second)}
	must(t, s.CreateDataset(ctx, d), "CreateDataset")
	if d.Labels[2].Property != nil || !d.CreatedAt.Equal(epoch) {
		t.Errorf("CreateDataset left an empty Property %v or an unrounded time %v", d.Labels[2].Property, d.CreatedAt)
	}
	got, err := s.GetDataset(ctx, t1.ID, d.ID)
	must(t, err, "GetDataset")
	wantEqual(t, got, d, "GetDataset")
	_, err = s.GetDataset(ctx, t2.ID, d.ID)
	wantErr(t, err, store.ErrNotFound, "GetDataset in another tenant")
	_, err = s.GetDataset(ctx, t1.ID, "nope")
	wantErr(t, err, store.ErrNotFound, "GetDataset(unknown)")

	table := &atelier.Dataset{ID: atelier.NewID(), TenantID: t1.ID, Name: "iris", DataType: atelier.DataTable,
		DatasetType: atelier.DatasetTable, DataPath: "/bucket/iris/", WorkPath: "/bucket/work/", WithColumnHeader: true,
		Schema:    []atelier.SchemaColumn{{ID: 1, Name: "sepal", Type: "FLOAT"}, {ID: 2, Name: "class", Type: "STRING"}},
		CreatedAt: epoch, UpdatedAt: epoch}
	must(t, s.CreateDataset(ctx, table), "CreateDataset(table)")
	got, err = s.GetDataset(ctx, t1.ID, table.ID)
	must(t, err, "GetDataset(table)")
	wantEqual(t, got, table, "GetDataset(table)")
	plain := MustDataset(t, s, t1.ID, "a-images")
	MustDataset(t, s, t2.ID, "iris") // the same name in another tenant

	dup := *plain
	dup.ID = atelier.NewID()
	wantErr(t, s.CreateDataset(ctx, &dup), store.ErrConflict, "CreateDataset with a taken name")

	list, err := s.ListDatasets(ctx, t1.ID, "")
	must(t, err, "ListDatasets")
	wantEqual(t, list, []*atelier.Dataset{plain, table, d}, "ListDatasets (by name)")
	list, err = s.ListDatasets(ctx, t1.ID, "iris")
	must(t, err, "ListDatasets(iris)")
	wantEqual(t, list, []*atelier.Dataset{table}, "ListDatasets(iris)")
	list, err = s.ListDatasets(ctx, t1.ID, "nope")
	must(t, err, "ListDatasets(nope)")
	if len(list) != 0 {
		t.Errorf("ListDatasets(nope) = %d datasets, want 0", len(list))
	}

	// UpdateDataset writes name, description, labels, schema and the
	// update time; the rest cannot change.
	later := epoch.Add(time.Hour)
	upd, err := s.UpdateDataset(ctx, t1.ID, d.ID, func(x *atelier.Dataset) error {
		wantEqual(t, x, d, "the dataset fn got")
		x.Name, x.Description, x.UpdatedAt = "renamed", "", later
		x.Labels = x.Labels[:1]
		x.Schema = []atelier.SchemaColumn{{ID: 1, Name: "text", Type: "STRING"}}
		x.ID, x.TenantID, x.DataPath, x.DatasetType, x.SampleCount, x.CreatedAt = "x", "x", "/x/", 9, 99, later
		return nil
	})
	must(t, err, "UpdateDataset")
	want := *d
	want.Name, want.Description, want.UpdatedAt = "renamed", "", later
	want.Labels = d.Labels[:1]
	want.Schema = []atelier.SchemaColumn{{ID: 1, Name: "text", Type: "STRING"}}
	wantEqual(t, upd, &want, "UpdateDataset")
	got, err = s.GetDataset(ctx, t1.ID, d.ID)
	must(t, err, "GetDataset after update")
	wantEqual(t, got, &want, "GetDataset after update")

	_, err = s.UpdateDataset(ctx, t1.ID, d.ID, func(x *atelier.Dataset) error { x.Name = "iris"; return nil })
	wantErr(t, err, store.ErrConflict, "UpdateDataset to a taken name")
	_, err = s.UpdateDataset(ctx, t1.ID, d.ID, func(x *atelier.Dataset) error { x.Name = "zzz"; return errStop })
	if err != errStop {
		t.Errorf("UpdateDataset with a failing fn = %v, want fn's error as is", err)
	}
	got, err = s.GetDataset(ctx, t1.ID, d.ID)
	must(t, err, "GetDataset after failed updates")
	wantEqual(t, got, &want, "GetDataset after failed updates")
	for _, c := range []struct{ tenant, id string }{{t2.ID, d.ID}, {t1.ID, "nope"}} {
		called := false
		_, err = s.UpdateDataset(ctx, c.tenant, c.id, func(*atelier.Dataset) error { called = true; return nil })
		wantErr(t, err, store.ErrNotFound, "UpdateDataset of a missing dataset")
		if called {
			t.Error("UpdateDataset of a missing dataset called fn")
		}
	}

	wantErr(t, s.DeleteDataset(ctx, t2.ID, d.ID), store.ErrNotFound, "DeleteDataset from another tenant")
	must(t, s.DeleteDataset(ctx, t1.ID, d.ID), "DeleteDataset")
	_, err = s.GetDataset(ctx, t1.ID, d.ID)
	wantErr(t, err, store.ErrNotFound, "GetDataset after delete")
	wantErr(t, s.DeleteDataset(ctx, t1.ID, d.ID), store.ErrNotFound, "DeleteDataset twice")
}

func testSamples(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	d := MustDataset(t, s, tn.ID, "d")
	other := MustDataset(t, s, tn.ID, "other")
	batch := newSamples("img", 10, func(i int) []string {
		switch i % 3 {
		case 0:
			return nil
		case 1:
			return []string{"cat"}
		}
		return []string{"cat", "dog"}
	})
	batch[0].Usage = atelier.UsageTrain
	batch[1].Annotations[0].Property = map[string]any{"score": 0.5, "@modelarts:start_index": 3, "empty": map[string]any{}}
	batch[2].Labels = append(batch[2].Labels, "cat") // a repeated label is indexed once
	added, err := s.AddSamples(ctx, d.ID, batch, nil)
	must(t, err, "AddSamples")
	if added != 10 {
		t.Errorf("AddSamples = %d, want 10", added)
	}
	if want := []string{"cat", "dog"}; !slices.Equal(batch[2].Labels, want) {
		t.Errorf("AddSamples left labels %v, want %v", batch[2].Labels, want)
	}
	if p := batch[1].Annotations[0].Property; p["@modelarts:start_index"] != float64(3) {
		t.Errorf("AddSamples left property %v, want its stored form (numbers as float64)", p)
	}
	ids := sampleIDs(batch)
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != 10 {
		t.Errorf("sample ids %v are not distinct and in insertion order", ids)
	}
	for _, want := range batch {
		if want.DatasetID != d.ID {
			t.Errorf("AddSamples set DatasetID %q, want %q", want.DatasetID, d.ID)
		}
		got, err := s.GetSample(ctx, d.ID, want.ID)
		must(t, err, "GetSample")
		wantEqual(t, got, want, "GetSample")
	}
	_, err = s.GetSample(ctx, other.ID, batch[0].ID)
	wantErr(t, err, store.ErrNotFound, "GetSample in another dataset")
	_, err = s.GetSample(ctx, d.ID, "nope")
	wantErr(t, err, store.ErrNotFound, "GetSample(unknown)")
	wantCounts(t, s, tn.ID, d.ID, 10, 6, "after the first batch")

	// The same batch again adds nothing; a batch that overlaps adds only
	// the new sources, and a source repeated within a batch counts once.
	again := newSamples("img", 10, nil)
	added, err = s.AddSamples(ctx, d.ID, again, nil)
	must(t, err, "AddSamples again")
	if added != 0 {
		t.Errorf("AddSamples of the same sources = %d, want 0", added)
	}
	wantCounts(t, s, tn.ID, d.ID, 10, 6, "after the same batch again")
	overlap := newSamples("img", 14, func(int) []string { return []string{"bird"} })[8:]
	overlap = append(overlap, newSamples("img", 14, nil)[13])
	added, err = s.AddSamples(ctx, d.ID, overlap, nil)
	must(t, err, "AddSamples overlapping")
	if added != 4 {
		t.Errorf("AddSamples of 2 old, 4 new sources and a repeat = %d, want 4", added)
	}
	wantCounts(t, s, tn.ID, d.ID, 14, 10, "after the overlapping batch")
	all := listAll(t, s, d.ID, atelier.SampleFilter{}, 100)
	var wantSources []string
	for i := range 14 {
		wantSources = append(wantSources, fmt.Sprintf("s3://bucket/img%06d.jpg", i))
	}
	wantEqual(t, sources(all), wantSources, "ListSamples sources (in insertion order)")
	wantEqual(t, all[:10], batch, "ListSamples of the first batch")
	for _, x := range all[10:] {
		if !slices.Equal(x.Labels, []string{"bird"}) {
			t.Errorf("sample %s added later has labels %v, want [bird]", x.Source, x.Labels)
		}
	}

	// Another dataset has a sequence and sources of its own.
	added, err = s.AddSamples(ctx, other.ID, newSamples("img", 3, nil), nil)
	must(t, err, "AddSamples into another dataset")
	if added != 3 {
		t.Errorf("AddSamples into another dataset = %d, want 3", added)
	}
	wantCounts(t, s, tn.ID, d.ID, 14, 10, "after adding to the other dataset")

	st, err := s.SampleStats(ctx, d.ID)
	must(t, err, "SampleStats")
	wantEqual(t, st, &store.SampleStats{Total: 14, Annotated: 10,
		ByLabel: map[string]int64{"cat": 6, "dog": 3, "bird": 4},
		ByUsage: map[string]int64{atelier.UsageTrain: 1}}, "SampleStats")

	// Long text samples that share a long start are distinct sources; the
	// same long text again is not.
	long := strings.Repeat("肺炎又称为肺部感染，", 30)
	texts := []*atelier.Sample{{Source: long + "甲"}, {Source: long + "乙"}, {Source: string([]rune(long)[:84]) + "xyz"}, {Source: long + "甲"}}
	added, err = s.AddSamples(ctx, other.ID, texts, nil)
	must(t, err, "AddSamples of long texts")
	if added != 3 {
		t.Errorf("AddSamples of 3 long texts and a repeat = %d, want 3", added)
	}
	got, err := s.GetSample(ctx, other.ID, texts[1].ID)
	must(t, err, "GetSample of a long text")
	if got.Source != long+"乙" {
		t.Errorf("a long text read back as %q", got.Source)
	}
	added, err = s.AddSamples(ctx, other.ID, []*atelier.Sample{{Source: long + "乙"}, {Source: long + "丙"}}, nil)
	must(t, err, "AddSamples of long texts again")
	if added != 1 {
		t.Errorf("AddSamples of a known and a new long text = %d, want 1", added)
	}
	wantCounts(t, s, tn.ID, other.ID, 7, 0, "the dataset of long texts")

	_, err = s.AddSamples(ctx, "nope", newSamples("x", 1, nil), nil)
	wantErr(t, err, store.ErrNotFound, "AddSamples to an unknown dataset")
	_, err = s.SampleStats(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "SampleStats of an unknown dataset")
	none, err := s.ListSamples(ctx, "nope", atelier.SampleFilter{})
	must(t, err, "ListSamples of an unknown dataset")
	if len(none) != 0 {
		t.Errorf("ListSamples of an unknown dataset = %d samples", len(none))
	}

	// DeleteSamples counts what existed, and keeps counters and the label
	// index in step.
	n, err := s.DeleteSamples(ctx, d.ID, []string{batch[1].ID, batch[2].ID, batch[2].ID, batch[3].ID, "nope"})
	must(t, err, "DeleteSamples")
	if n != 3 {
		t.Errorf("DeleteSamples = %d, want 3", n)
	}
	_, err = s.GetSample(ctx, d.ID, batch[1].ID)
	wantErr(t, err, store.ErrNotFound, "GetSample after delete")
	wantCounts(t, s, tn.ID, d.ID, 11, 8, "after DeleteSamples")
	st, err = s.SampleStats(ctx, d.ID)
	must(t, err, "SampleStats after delete")
	wantEqual(t, st.ByLabel, map[string]int64{"cat": 4, "dog": 2, "bird": 4}, "SampleStats.ByLabel after delete")
	cats := listAll(t, s, d.ID, atelier.SampleFilter{Label: "cat"}, 100)
	wantEqual(t, sampleIDs(cats), []string{batch[4].ID, batch[5].ID, batch[7].ID, batch[8].ID}, "cats after delete")
	n, err = s.DeleteSamples(ctx, d.ID, []string{batch[1].ID})
	must(t, err, "DeleteSamples again")
	if n != 0 {
		t.Errorf("DeleteSamples of deleted samples = %d, want 0", n)
	}
	_, err = s.DeleteSamples(ctx, "nope", []string{batch[0].ID})
	wantErr(t, err, store.ErrNotFound, "DeleteSamples of an unknown dataset")
	// A deleted source can be imported again, as a new sample.
	re := newSamples("img", 2, nil)[1:]
	added, err = s.AddSamples(ctx, d.ID, re, nil)
	must(t, err, "AddSamples of a deleted source")
	if added != 1 || re[0].ID <= all[len(all)-1].ID {
		t.Errorf("re-adding a deleted source: added %d with id %s, want 1 with an id after %s", added, re[0].ID,
			all[len(all)-1].ID)
	}
}

func testSampleFilters(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	d := MustDataset(t, s, tn.ID, "d")
	const total = 250
	// Every 2nd sample is a cat, every 5th a dog, every 7th unlabelled
	// (unless a cat or dog); usage cycles TRAIN, EVAL, "", TEST.
	labels := func(i int) []string {
		var out []string
		if i%2 == 0 {
			out = append(out, "cat")
		}
		if i%5 == 0 {
			out = append(out, "dog")
		}
		if out == nil && i%7 != 0 {
			out = append(out, "other")
		}
		return out
	}
	usages := []string{atelier.UsageTrain, atelier.UsageEval, "", atelier.UsageTest}
	ss := newSamples("f", total, labels)
	for i, x := range ss {
		x.Usage = usages[i%4]
	}
	for start := 0; start < total; start += 100 {
		_, err := s.AddSamples(ctx, d.ID, ss[start:min(start+100, total)], nil)
		must(t, err, "AddSamples")
	}
	pick := func(keep func(i int) bool) []string {
		var out []string
		for i, x := range ss {
			if keep(i) {
				out = append(out, x.ID)
			}
		}
		return out
	}
	yes, no := true, false
	for _, c := range []struct {
		name string
		f    atelier.SampleFilter
		want []string
	}{
		{"all", atelier.SampleFilter{}, pick(func(int) bool { return true })},
		{"cat", atelier.SampleFilter{Label: "cat"}, pick(func(i int) bool { return i%2 == 0 })},
		{"dog", atelier.SampleFilter{Label: "dog"}, pick(func(i int) bool { return i%5 == 0 })},
		{"none", atelier.SampleFilter{Label: "nope"}, nil},
		{"labelled", atelier.SampleFilter{Labelled: &yes}, pick(func(i int) bool { return labels(i) != nil })},
		{"unlabelled", atelier.SampleFilter{Labelled: &no}, pick(func(i int) bool { return labels(i) == nil })},
		{"train", atelier.SampleFilter{Usage: atelier.UsageTrain}, pick(func(i int) bool { return i%4 == 0 })},
		{"test", atelier.SampleFilter{Usage: atelier.UsageTest}, pick(func(i int) bool { return i%4 == 3 })},
		{"eval and unlabelled", atelier.SampleFilter{Usage: atelier.UsageEval, Labelled: &no},
			pick(func(i int) bool { return i%4 == 1 && labels(i) == nil })},
		{"dog for training", atelier.SampleFilter{Label: "dog", Usage: atelier.UsageTrain},
			pick(func(i int) bool { return i%5 == 0 && i%4 == 0 })},
	} {
		// Pages of 50 take 3 or more pages for the larger sets: no gaps,
		// no duplicates.
		for _, limit := range []int{50, 1000} {
			got := listAll(t, s, d.ID, c.f, limit)
			wantEqual(t, sampleIDs(got), c.want, fmt.Sprintf("ListSamples(%s) by %d", c.name, limit))
		}
	}
	cats := listAll(t, s, d.ID, atelier.SampleFilter{Label: "cat"}, 50)
	if len(cats) != 125 {
		t.Fatalf("%d cats, want 125 (3 pages of 50)", len(cats))
	}
	wantEqual(t, cats[7], ss[14], "a sample listed by label")

	// The default page is 100, and no page is larger than 1000.
	page, err := s.ListSamples(ctx, d.ID, atelier.SampleFilter{})
	must(t, err, "ListSamples")
	if len(page) != 100 {
		t.Errorf("ListSamples without a limit = %d samples, want 100", len(page))
	}
	more := newSamples("g", 900, nil)
	_, err = s.AddSamples(ctx, d.ID, more, nil)
	must(t, err, "AddSamples")
	page, err = s.ListSamples(ctx, d.ID, atelier.SampleFilter{Limit: 5000})
	must(t, err, "ListSamples")
	if len(page) != 1000 {
		t.Errorf("ListSamples with limit 5000 = %d samples, want 1000", len(page))
	}
}

func testUpdateSample(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	d := MustDataset(t, s, tn.ID, "d")
	ss := newSamples("u", 4, func(i int) []string {
		if i == 3 {
			return nil
		}
		return []string{"cat"}
	})
	_, err := s.AddSamples(ctx, d.ID, ss, nil)
	must(t, err, "AddSamples")
	later := epoch.Add(time.Hour)

	// Move sample 1 from cat to dog, in place in its label slice.
	upd, err := s.UpdateSample(ctx, d.ID, ss[1].ID, func(x *atelier.Sample) error {
		wantEqual(t, x, ss[1], "the sample fn got")
		x.Labels[0] = "dog"
		x.Annotations = []atelier.Annotation{{Type: "modelarts/image_classification", Name: "dog"}}
		x.Usage, x.UpdatedAt = atelier.UsageEval, later
		x.ID, x.DatasetID, x.Source, x.CreatedAt = "x", "x", "x", later
		return nil
	})
	must(t, err, "UpdateSample")
	want := *ss[1]
	want.Labels = []string{"dog"}
	want.Annotations = []atelier.Annotation{{Type: "modelarts/image_classification", Name: "dog"}}
	want.Usage, want.UpdatedAt = atelier.UsageEval, later
	wantEqual(t, upd, &want, "UpdateSample")
	got, err := s.GetSample(ctx, d.ID, ss[1].ID)
	must(t, err, "GetSample after update")
	wantEqual(t, got, &want, "GetSample after update")
	ids := func(label string) []string {
		return sampleIDs(listAll(t, s, d.ID, atelier.SampleFilter{Label: label}, 10))
	}
	wantEqual(t, ids("cat"), []string{ss[0].ID, ss[2].ID}, "cats after the move")
	wantEqual(t, ids("dog"), []string{ss[1].ID}, "dogs after the move")
	wantCounts(t, s, tn.ID, d.ID, 4, 3, "after the move")

	// Clearing annotations unlabels; annotating labels.
	_, err = s.UpdateSample(ctx, d.ID, ss[0].ID, func(x *atelier.Sample) error {
		x.Annotations, x.Labels = nil, nil
		return nil
	})
	must(t, err, "UpdateSample clearing")
	_, err = s.UpdateSample(ctx, d.ID, ss[3].ID, func(x *atelier.Sample) error {
		x.Annotations = []atelier.Annotation{{Type: "modelarts/image_classification", Name: "cat"},
			{Type: "modelarts/image_classification", Name: "dog"}}
		x.Labels = []string{"cat", "dog"}
		return nil
	})
	must(t, err, "UpdateSample annotating")
	wantEqual(t, ids("cat"), []string{ss[2].ID, ss[3].ID}, "cats after clearing and annotating")
	wantEqual(t, ids("dog"), []string{ss[1].ID, ss[3].ID}, "dogs after clearing and annotating")
	wantCounts(t, s, tn.ID, d.ID, 4, 3, "after clearing one and annotating another")
	no := false
	wantEqual(t, sampleIDs(listAll(t, s, d.ID, atelier.SampleFilter{Labelled: &no}, 10)), []string{ss[0].ID},
		"unlabelled after the updates")

	// An error from fn changes nothing; missing samples are not found.
	before, err := s.GetSample(ctx, d.ID, ss[2].ID)
	must(t, err, "GetSample")
	_, err = s.UpdateSample(ctx, d.ID, ss[2].ID, func(x *atelier.Sample) error {
		x.Labels, x.Annotations = nil, nil
		return errStop
	})
	if err != errStop {
		t.Errorf("UpdateSample with a failing fn = %v, want fn's error as is", err)
	}
	got, err = s.GetSample(ctx, d.ID, ss[2].ID)
	must(t, err, "GetSample after a failed update")
	wantEqual(t, got, before, "GetSample after a failed update")
	wantCounts(t, s, tn.ID, d.ID, 4, 3, "after a failed update")
	for _, c := range []struct{ ds, id string }{{d.ID, "nope"}, {"nope", ss[0].ID}} {
		called := false
		_, err = s.UpdateSample(ctx, c.ds, c.id, func(*atelier.Sample) error { called = true; return nil })
		wantErr(t, err, store.ErrNotFound, "UpdateSample of a missing sample")
		if called {
			t.Error("UpdateSample of a missing sample called fn")
		}
	}
}

// mustImport creates a QUEUED import task of the dataset created at at.
func mustImport(t testing.TB, s store.Store, datasetID string, at time.Time) *atelier.ImportTask {
	t.Helper()
	task := &atelier.ImportTask{DatasetID: datasetID, Path: "/bucket/in/", Format: "directory",
		State: atelier.TaskQueued, CreatedAt: at, UpdatedAt: at}
	must(t, s.CreateImportTask(ctxFor(t), task), "CreateImportTask")
	return task
}

func taskIDs(ts []*atelier.ImportTask) []string {
	out := make([]string, len(ts))
	for i, x := range ts {
		out[i] = x.ID
	}
	return out
}

func testImportTasks(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	d := MustDataset(t, s, t1.ID, "d")
	e := MustDataset(t, s, t2.ID, "e")
	at := func(m int) time.Time { return epoch.Add(time.Duration(m) * time.Minute) }
	first := mustImport(t, s, d.ID, at(0))
	if first.ID == "" {
		t.Fatal("CreateImportTask gave no id")
	}
	got, err := s.GetImportTask(ctx, d.ID, first.ID)
	must(t, err, "GetImportTask")
	wantEqual(t, got, first, "GetImportTask")
	_, err = s.GetImportTask(ctx, e.ID, first.ID)
	wantErr(t, err, store.ErrNotFound, "GetImportTask of another dataset")
	_, err = s.GetImportTask(ctx, d.ID, "nope")
	wantErr(t, err, store.ErrNotFound, "GetImportTask(unknown)")
	wantErr(t, s.CreateImportTask(ctx, first), store.ErrConflict, "CreateImportTask with a taken id")
	wantErr(t, s.CreateImportTask(ctx, &atelier.ImportTask{DatasetID: "nope", State: atelier.TaskQueued,
		CreatedAt: epoch, UpdatedAt: epoch}), store.ErrNotFound, "CreateImportTask of an unknown dataset")

	second := mustImport(t, s, d.ID, at(2))
	other := mustImport(t, s, e.ID, at(1))
	list, err := s.ListImportTasks(ctx, d.ID)
	must(t, err, "ListImportTasks")
	wantEqual(t, list, []*atelier.ImportTask{second, first}, "ListImportTasks (newest first)")

	upd, err := s.UpdateImportTask(ctx, d.ID, first.ID, func(x *atelier.ImportTask) error {
		wantEqual(t, x, first, "the task fn got")
		x.State, x.Imported, x.Rejected, x.Cursor, x.UpdatedAt = atelier.TaskRunning, 10, 2, "file 3 line 7", at(5)
		x.Errors = []string{"a.txt: line 2: bad", "b.txt: line 1: bad"}
		x.ID, x.DatasetID, x.CreatedAt = "x", "x", at(9)
		return nil
	})
	must(t, err, "UpdateImportTask")
	want := *first
	want.State, want.Imported, want.Rejected, want.Cursor, want.UpdatedAt = atelier.TaskRunning, 10, 2, "file 3 line 7", at(5)
	want.Errors = []string{"a.txt: line 2: bad", "b.txt: line 1: bad"}
	wantEqual(t, upd, &want, "UpdateImportTask")
	got, err = s.GetImportTask(ctx, d.ID, first.ID)
	must(t, err, "GetImportTask after update")
	wantEqual(t, got, &want, "GetImportTask after update")
	_, err = s.UpdateImportTask(ctx, d.ID, first.ID, func(x *atelier.ImportTask) error { x.State = "X"; return errStop })
	if err != errStop {
		t.Errorf("UpdateImportTask with a failing fn = %v, want fn's error as is", err)
	}
	called := false
	_, err = s.UpdateImportTask(ctx, e.ID, first.ID, func(*atelier.ImportTask) error { called = true; return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateImportTask of another dataset's task")
	if called {
		t.Error("UpdateImportTask of a missing task called fn")
	}

	active, err := s.ActiveImportTasks(ctx)
	must(t, err, "ActiveImportTasks")
	wantEqual(t, taskIDs(active), []string{first.ID, other.ID, second.ID}, "ActiveImportTasks (oldest first)")
	wantEqual(t, active[0], &want, "an ActiveImportTasks entry")
	for _, final := range []string{atelier.TaskCompleted, atelier.TaskFailed} {
		_, err = s.UpdateImportTask(ctx, d.ID, first.ID, func(x *atelier.ImportTask) error { x.State = final; return nil })
		must(t, err, "UpdateImportTask to "+final)
		active, err = s.ActiveImportTasks(ctx)
		must(t, err, "ActiveImportTasks")
		wantEqual(t, taskIDs(active), []string{other.ID, second.ID}, "ActiveImportTasks after "+final)
	}
}

// AddSamples writes its task in the same transaction.
func testAddSamplesTask(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	d := MustDataset(t, s, tn.ID, "d")
	e := MustDataset(t, s, tn.ID, "e")
	task := mustImport(t, s, d.ID, epoch)
	later := epoch.Add(time.Minute)
	task.State, task.Imported, task.Cursor, task.UpdatedAt = atelier.TaskRunning, 5, "line 5", later
	task.Errors = []string{"line 3: bad"}
	added, err := s.AddSamples(ctx, d.ID, newSamples("a", 5, nil), task)
	must(t, err, "AddSamples with a task")
	if added != 5 {
		t.Errorf("AddSamples = %d, want 5", added)
	}
	got, err := s.GetImportTask(ctx, d.ID, task.ID)
	must(t, err, "GetImportTask")
	wantEqual(t, got, task, "the task AddSamples wrote")

	// A task that is not the dataset's (missing, or another dataset's)
	// fails the whole call: no sample, no counter, no sequence number.
	eTask := mustImport(t, s, e.ID, epoch)
	for _, bad := range []*atelier.ImportTask{
		{ID: "nope", DatasetID: d.ID, State: atelier.TaskRunning, UpdatedAt: later},
		eTask,
	} {
		_, err = s.AddSamples(ctx, d.ID, newSamples("b", 5, nil), bad)
		wantErr(t, err, store.ErrNotFound, "AddSamples with a task that is not the dataset's")
		wantCounts(t, s, tn.ID, d.ID, 5, 0, "after AddSamples with a bad task")
		all := listAll(t, s, d.ID, atelier.SampleFilter{}, 100)
		if len(all) != 5 {
			t.Errorf("AddSamples with a bad task left %d samples, want 5", len(all))
		}
	}
	got, err = s.GetImportTask(ctx, e.ID, eTask.ID)
	must(t, err, "GetImportTask")
	wantEqual(t, got, eTask, "another dataset's task after a refused AddSamples")

	// Resuming from the task's cursor with the same sources adds nothing
	// twice.
	batch := newSamples("a", 8, nil)
	added, err = s.AddSamples(ctx, d.ID, batch, task)
	must(t, err, "AddSamples resumed")
	if added != 3 {
		t.Errorf("resumed AddSamples = %d, want 3", added)
	}
	wantCounts(t, s, tn.ID, d.ID, 8, 0, "after the resumed import")
	all := listAll(t, s, d.ID, atelier.SampleFilter{}, 100)
	wantEqual(t, sources(all), sources(batch), "sources after the resumed import")
}

func testDatasetVersions(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	d := MustDataset(t, s, tn.ID, "d")
	e := MustDataset(t, s, tn.ID, "e")
	ss := newSamples("v", 250, func(i int) []string {
		if i%2 == 0 {
			return []string{"cat"}
		}
		return nil
	})
	ss[0].Usage = atelier.UsageTrain
	_, err := s.AddSamples(ctx, d.ID, ss, nil)
	must(t, err, "AddSamples")
	snapshot := listAll(t, s, d.ID, atelier.SampleFilter{}, 1000)

	v1 := &atelier.DatasetVersion{DatasetID: d.ID, Description: "first", TrainEvalRatio: 0.8,
		ManifestPath: "/bucket/work/dataset-x/annotation/V001/V001.manifest", State: "CREATING",
		CreatedAt: epoch.Add(time.Minute + time.Nanosecond)}
	must(t, s.CreateDatasetVersion(ctx, v1), "CreateDatasetVersion")
	if v1.ID == "" || v1.Name != "V001" || v1.SampleCount != 250 || !v1.CreatedAt.Equal(epoch.Add(time.Minute)) {
		t.Errorf("CreateDatasetVersion set id %q, name %q, count %d, time %v; want an id, V001, 250, %v",
			v1.ID, v1.Name, v1.SampleCount, v1.CreatedAt, epoch.Add(time.Minute))
	}
	got, err := s.GetDatasetVersion(ctx, d.ID, v1.ID)
	must(t, err, "GetDatasetVersion")
	wantEqual(t, got, v1, "GetDatasetVersion")
	_, err = s.GetDatasetVersion(ctx, e.ID, v1.ID)
	wantErr(t, err, store.ErrNotFound, "GetDatasetVersion of another dataset")
	wantErr(t, s.CreateDatasetVersion(ctx, &atelier.DatasetVersion{DatasetID: "nope", State: "CREATING",
		CreatedAt: epoch}), store.ErrNotFound, "CreateDatasetVersion of an unknown dataset")

	// Later changes to the samples leave the snapshot as it was.
	_, err = s.UpdateSample(ctx, d.ID, ss[0].ID, func(x *atelier.Sample) error {
		x.Annotations, x.Labels, x.Usage = nil, nil, atelier.UsageEval
		return nil
	})
	must(t, err, "UpdateSample")
	_, err = s.DeleteSamples(ctx, d.ID, []string{ss[1].ID})
	must(t, err, "DeleteSamples")
	_, err = s.AddSamples(ctx, d.ID, newSamples("w", 3, nil), nil)
	must(t, err, "AddSamples")
	var paged []*atelier.Sample
	after := ""
	for range 10 {
		page, err := s.ListVersionSamples(ctx, v1.ID, after, 100)
		must(t, err, "ListVersionSamples")
		paged = append(paged, page...)
		if len(page) < 100 {
			break
		}
		after = page[len(page)-1].ID
	}
	wantEqual(t, paged, snapshot, "ListVersionSamples (paged by 100) after later changes")
	none, err := s.ListVersionSamples(ctx, "nope", "", 10)
	must(t, err, "ListVersionSamples(unknown)")
	if len(none) != 0 {
		t.Errorf("ListVersionSamples(unknown) = %d samples", len(none))
	}

	v2 := &atelier.DatasetVersion{DatasetID: d.ID, State: "CREATING", CreatedAt: epoch.Add(time.Hour)}
	must(t, s.CreateDatasetVersion(ctx, v2), "CreateDatasetVersion")
	if v2.Name != "V002" || v2.SampleCount != 252 {
		t.Errorf("second version: %s with %d samples, want V002 with 252", v2.Name, v2.SampleCount)
	}
	ev := &atelier.DatasetVersion{DatasetID: e.ID, State: "CREATING", CreatedAt: epoch}
	must(t, s.CreateDatasetVersion(ctx, ev), "CreateDatasetVersion of another dataset")
	if ev.Name != "V001" || ev.SampleCount != 0 {
		t.Errorf("another dataset's first version: %s with %d samples, want V001 with 0", ev.Name, ev.SampleCount)
	}
	list, err := s.ListDatasetVersions(ctx, d.ID)
	must(t, err, "ListDatasetVersions")
	wantEqual(t, list, []*atelier.DatasetVersion{v2, v1}, "ListDatasetVersions (newest first)")
	first, err := s.ListVersionSamples(ctx, v2.ID, "", 1)
	must(t, err, "ListVersionSamples(v2)")
	if len(first) != 1 || first[0].Usage != atelier.UsageEval || first[0].Labels != nil {
		t.Errorf("V002's first sample = %+v, want the updated one", first)
	}

	upd, err := s.UpdateDatasetVersion(ctx, d.ID, v1.ID, func(x *atelier.DatasetVersion) error {
		wantEqual(t, x, v1, "the version fn got")
		x.State, x.ManifestPath, x.Description, x.TrainEvalRatio = "NORMAL", "/bucket/m", "d", 0.5
		x.ID, x.DatasetID, x.Name, x.SampleCount, x.CreatedAt = "x", "x", "V009", 9, epoch
		return nil
	})
	must(t, err, "UpdateDatasetVersion")
	want := *v1
	want.State, want.ManifestPath, want.Description, want.TrainEvalRatio = "NORMAL", "/bucket/m", "d", 0.5
	wantEqual(t, upd, &want, "UpdateDatasetVersion")
	got, err = s.GetDatasetVersion(ctx, d.ID, v1.ID)
	must(t, err, "GetDatasetVersion after update")
	wantEqual(t, got, &want, "GetDatasetVersion after update")
	_, err = s.UpdateDatasetVersion(ctx, d.ID, v1.ID, func(x *atelier.DatasetVersion) error { x.State = "X"; return errStop })
	if err != errStop {
		t.Errorf("UpdateDatasetVersion with a failing fn = %v, want fn's error as is", err)
	}
	_, err = s.UpdateDatasetVersion(ctx, e.ID, v1.ID, func(*atelier.DatasetVersion) error { return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateDatasetVersion of another dataset's version")
}

func testExportTasks(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	d := MustDataset(t, s, tn.ID, "d")
	e := MustDataset(t, s, tn.ID, "e")
	v := &atelier.DatasetVersion{DatasetID: d.ID, State: "NORMAL", CreatedAt: epoch}
	must(t, s.CreateDatasetVersion(ctx, v), "CreateDatasetVersion")
	mk := func(at time.Time) *atelier.ExportTask {
		x := &atelier.ExportTask{DatasetID: d.ID, VersionID: v.ID, Path: "/bucket/out/", State: atelier.TaskQueued,
			CreatedAt: at, UpdatedAt: at}
		must(t, s.CreateExportTask(ctx, x), "CreateExportTask")
		return x
	}
	first, second := mk(epoch), mk(epoch.Add(time.Minute))
	if first.ID == "" || first.ID == second.ID {
		t.Errorf("CreateExportTask ids %q, %q, want distinct ids", first.ID, second.ID)
	}
	list, err := s.ListExportTasks(ctx, d.ID)
	must(t, err, "ListExportTasks")
	wantEqual(t, list, []*atelier.ExportTask{second, first}, "ListExportTasks (newest first)")
	for _, bad := range []*atelier.ExportTask{
		{DatasetID: "nope", VersionID: v.ID},
		{DatasetID: e.ID, VersionID: v.ID},
		{DatasetID: d.ID, VersionID: "nope"},
	} {
		wantErr(t, s.CreateExportTask(ctx, bad), store.ErrNotFound, "CreateExportTask of a missing dataset or version")
	}
	wantErr(t, s.CreateExportTask(ctx, first), store.ErrConflict, "CreateExportTask with a taken id")

	later := epoch.Add(time.Hour)
	upd, err := s.UpdateExportTask(ctx, d.ID, first.ID, func(x *atelier.ExportTask) error {
		wantEqual(t, x, first, "the task fn got")
		x.State, x.Exported, x.Error, x.UpdatedAt = atelier.TaskFailed, 7, "bucket gone", later
		x.ID, x.DatasetID, x.VersionID, x.CreatedAt = "x", "x", "x", later
		return nil
	})
	must(t, err, "UpdateExportTask")
	want := *first
	want.State, want.Exported, want.Error, want.UpdatedAt = atelier.TaskFailed, 7, "bucket gone", later
	wantEqual(t, upd, &want, "UpdateExportTask")
	list, err = s.ListExportTasks(ctx, d.ID)
	must(t, err, "ListExportTasks after update")
	wantEqual(t, list, []*atelier.ExportTask{second, &want}, "ListExportTasks after update")
	_, err = s.UpdateExportTask(ctx, d.ID, first.ID, func(*atelier.ExportTask) error { return errStop })
	if err != errStop {
		t.Errorf("UpdateExportTask with a failing fn = %v, want fn's error as is", err)
	}
	_, err = s.UpdateExportTask(ctx, e.ID, first.ID, func(*atelier.ExportTask) error { return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateExportTask of another dataset's task")
}

func testDeleteDataset(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	d := MustDataset(t, s, tn.ID, "gone")
	keep := MustDataset(t, s, tn.ID, "keep")
	fill := func(ds *atelier.Dataset) (*atelier.ImportTask, *atelier.DatasetVersion) {
		_, err := s.AddSamples(ctx, ds.ID, newSamples("x", 20, func(int) []string { return []string{"cat"} }), nil)
		must(t, err, "AddSamples")
		task := mustImport(t, s, ds.ID, epoch)
		v := &atelier.DatasetVersion{DatasetID: ds.ID, State: "NORMAL", CreatedAt: epoch}
		must(t, s.CreateDatasetVersion(ctx, v), "CreateDatasetVersion")
		must(t, s.CreateExportTask(ctx, &atelier.ExportTask{DatasetID: ds.ID, VersionID: v.ID, State: atelier.TaskQueued,
			CreatedAt: epoch, UpdatedAt: epoch}), "CreateExportTask")
		return task, v
	}
	task, v := fill(d)
	keepTask, keepV := fill(keep)
	must(t, s.DeleteDataset(ctx, tn.ID, d.ID), "DeleteDataset")

	_, err := s.GetImportTask(ctx, d.ID, task.ID)
	wantErr(t, err, store.ErrNotFound, "GetImportTask after delete")
	_, err = s.GetDatasetVersion(ctx, d.ID, v.ID)
	wantErr(t, err, store.ErrNotFound, "GetDatasetVersion after delete")
	for what, n := range map[string]func() (int, error){
		"ListSamples": func() (int, error) { l, err := s.ListSamples(ctx, d.ID, atelier.SampleFilter{}); return len(l), err },
		"ListSamples(cat)": func() (int, error) {
			l, err := s.ListSamples(ctx, d.ID, atelier.SampleFilter{Label: "cat"})
			return len(l), err
		},
		"ListVersionSamples": func() (int, error) { l, err := s.ListVersionSamples(ctx, v.ID, "", 0); return len(l), err },
		"ListImportTasks":    func() (int, error) { l, err := s.ListImportTasks(ctx, d.ID); return len(l), err },
		"ListDatasetVersions": func() (int, error) {
			l, err := s.ListDatasetVersions(ctx, d.ID)
			return len(l), err
		},
		"ListExportTasks": func() (int, error) { l, err := s.ListExportTasks(ctx, d.ID); return len(l), err },
	} {
		got, err := n()
		must(t, err, what+" after delete")
		if got != 0 {
			t.Errorf("%s after delete = %d, want 0", what, got)
		}
	}
	active, err := s.ActiveImportTasks(ctx)
	must(t, err, "ActiveImportTasks")
	wantEqual(t, taskIDs(active), []string{keepTask.ID}, "ActiveImportTasks after delete")
	_, err = s.AddSamples(ctx, d.ID, newSamples("y", 1, nil), nil)
	wantErr(t, err, store.ErrNotFound, "AddSamples to a deleted dataset")

	// The other dataset is untouched; the name is free, and a new dataset
	// of that name starts from nothing.
	wantCounts(t, s, tn.ID, keep.ID, 20, 20, "the kept dataset")
	kept, err := s.ListVersionSamples(ctx, keepV.ID, "", 0)
	must(t, err, "ListVersionSamples of the kept dataset")
	if len(kept) != 20 {
		t.Errorf("the kept version has %d samples, want 20", len(kept))
	}
	again := MustDataset(t, s, tn.ID, "gone")
	wantCounts(t, s, tn.ID, again.ID, 0, 0, "a re-created dataset")
	added, err := s.AddSamples(ctx, again.ID, newSamples("x", 20, nil), nil)
	must(t, err, "AddSamples to the re-created dataset")
	if added != 20 {
		t.Errorf("AddSamples to the re-created dataset = %d, want 20", added)
	}
}

func testCreateDatasetVersionConcurrent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	d := MustDataset(t, s, tn.ID, "d")
	_, err := s.AddSamples(ctx, d.ID, newSamples("c", 50, nil), nil)
	must(t, err, "AddSamples")
	const n = 8
	vs := make([]*atelier.DatasetVersion, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		vs[i] = &atelier.DatasetVersion{DatasetID: d.ID, State: "CREATING", CreatedAt: epoch}
		errs[i] = s.CreateDatasetVersion(ctx, vs[i])
	})
	var names []string
	for i, err := range errs {
		must(t, err, "concurrent CreateDatasetVersion")
		names = append(names, vs[i].Name)
		if vs[i].SampleCount != 50 {
			t.Errorf("version %s has %d samples, want 50", vs[i].Name, vs[i].SampleCount)
		}
	}
	slices.Sort(names)
	wantEqual(t, names, []string{"V001", "V002", "V003", "V004", "V005", "V006", "V007", "V008"},
		"names of 8 concurrent versions")
	list, err := s.ListDatasetVersions(ctx, d.ID)
	must(t, err, "ListDatasetVersions")
	if len(list) != n || list[0].Name != "V008" {
		t.Errorf("ListDatasetVersions = %d versions starting %v, want 8 from V008", len(list), list)
	}
}

// Concurrent imports of overlapping sources add each source once.
func testAddSamplesConcurrent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	d := MustDataset(t, s, tn.ID, "d")
	const n = 6
	added := make([]int, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		// Each adds sources i*10 … i*10+29: every source but the first
		// ten and the last ten is offered by two or three goroutines.
		added[i], errs[i] = s.AddSamples(ctx, d.ID, newSamples("p", i*10+30, func(int) []string {
			return []string{"cat"}
		})[i*10:], nil)
	})
	total := 0
	for i, err := range errs {
		must(t, err, "concurrent AddSamples")
		total += added[i]
	}
	const distinct = (n-1)*10 + 30
	if total != distinct {
		t.Errorf("concurrent AddSamples added %d in all, want %d", total, distinct)
	}
	wantCounts(t, s, tn.ID, d.ID, distinct, distinct, "after concurrent AddSamples")
	all := listAll(t, s, d.ID, atelier.SampleFilter{}, 1000)
	cats := listAll(t, s, d.ID, atelier.SampleFilter{Label: "cat"}, 1000)
	if len(all) != distinct || len(cats) != distinct {
		t.Errorf("%d samples, %d cats, want %d of each", len(all), len(cats), distinct)
	}
	got := sources(all)
	slices.Sort(got)
	if len(slices.Compact(got)) != distinct {
		t.Error("a source was added twice")
	}
}

// datasetBenchSize is how many samples the dataset benchmarks add: 100,000,
// or 10,000 under -short.
func datasetBenchSize() int {
	if testing.Short() {
		return 10_000
	}
	return 100_000
}

// benchAddSamples adds datasetBenchSize samples into a new dataset in
// batches of 1000, as an import does, reporting samples/s. Every 4th sample
// is annotated with one of 10 labels.
func benchAddSamples(b *testing.B, open func(b *testing.B) store.Store) {
	s := open(b)
	b.Cleanup(func() { _ = s.Close() })
	ctx := b.Context()
	tn := MustTenant(b, s, "t")
	size := datasetBenchSize()
	const batch = 1000
	round := 0
	for b.Loop() {
		b.StopTimer()
		d := MustDataset(b, s, tn.ID, fmt.Sprintf("d%d", round))
		ss := newSamples("b", size, benchLabels)
		b.StartTimer()
		for start := 0; start < size; start += batch {
			n, err := s.AddSamples(ctx, d.ID, ss[start:min(start+batch, size)], nil)
			if err != nil {
				b.Fatal(err)
			}
			if n != min(batch, size-start) {
				b.Fatalf("AddSamples = %d", n)
			}
		}
		round++
	}
	b.ReportMetric(float64(round*size)/b.Elapsed().Seconds(), "samples/s")
}

// benchLabels annotates every 4th sample with one of 10 labels.
func benchLabels(i int) []string {
	if i%4 != 0 {
		return nil
	}
	return []string{fmt.Sprintf("label%d", (i/4)%10)}
}

// benchListByLabel lists pages of 500 samples of one label (every 8th
// sample has it; every other even one has another label) at the start and
// at the end of datasetBenchSize samples, reporting the time per page of
// each: keyset paging costs the same at any depth.
func benchListByLabel(b *testing.B, open func(b *testing.B) store.Store) {
	s := open(b)
	b.Cleanup(func() { _ = s.Close() })
	ctx := b.Context()
	tn := MustTenant(b, s, "t")
	d := MustDataset(b, s, tn.ID, "d")
	size := datasetBenchSize()
	ss := newSamples("l", size, func(i int) []string {
		switch {
		case i%8 == 0:
			return []string{"label0"}
		case i%2 == 0:
			return []string{"label1"}
		}
		return nil
	})
	for start := 0; start < size; start += 1000 {
		if _, err := s.AddSamples(ctx, d.ID, ss[start:min(start+1000, size)], nil); err != nil {
			b.Fatal(err)
		}
	}
	const page = 500
	var labelled []string // ids of label0, in order
	for i, x := range ss {
		if i%8 == 0 {
			labelled = append(labelled, x.ID)
		}
	}
	if len(labelled) < 2*page+1 {
		b.Fatalf("only %d samples with the label", len(labelled))
	}
	for _, c := range []struct {
		name  string
		after string
	}{
		{"Start", ""},
		{"End", labelled[len(labelled)-page-1]},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := atelier.SampleFilter{Label: "label0", After: c.after, Limit: page}
			pages := 0
			for b.Loop() {
				got, err := s.ListSamples(ctx, d.ID, f)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != page {
					b.Fatalf("ListSamples = %d samples, want %d", len(got), page)
				}
				pages++
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(pages)/1000, "ms/page")
		})
	}
}
