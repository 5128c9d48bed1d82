package dataset_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/dataset"
)

// labelsOf returns the sorted label names of a dataset.
func labelsOf(h *harness, id string) []string {
	h.t.Helper()
	d, err := h.svc.GetDataset(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, l := range d.Labels {
		names = append(names, l.Name)
	}
	slices.Sort(names)
	return names
}

func TestImportTextClassification(t *testing.T) {
	h := newHarness(t, 2, nil)
	// The combined form: text<TAB>label on each line.
	h.mustPut("tc/reviews.txt", "good movie\tpositive\r\nbad movie\tnegative\n\nno label here\nfine\tpositive\n")
	// The separate form: a content file and its label file, line by line.
	h.mustPut("tc/news.txt", "stocks rise\nrain tomorrow\nmatch won\n")
	h.mustPut("tc/news_result.txt", "finance\n\nsport\n")
	d, task := h.mustCreate(atelier.DatasetSpec{Name: "tc", DatasetType: intp(atelier.DatasetTextClassification),
		DataPath: "/data/tc/", WorkPath: "/work/out/",
		AnnotationConfig: &atelier.AnnotationConfig{Scene: "text_classification", FormatName: "ModelArts text classification combine 1.0"}})
	wantTask(t, task, atelier.TaskCompleted, 7, 0)
	if task.Format != dataset.FormatTextClassification || len(task.Errors) != 0 {
		t.Fatalf("task = %+v", task)
	}
	if got := labelsOf(h, d.ID); !slices.Equal(got, []string{"finance", "negative", "positive", "sport"}) {
		t.Fatalf("labels = %q", got)
	}
	pos := h.allSamples(d.ID, atelier.SampleFilter{Label: "positive"})
	if got := sources(pos); !slices.Equal(got, []string{"content://fine", "content://good movie"}) {
		t.Fatalf("positive samples = %q", got)
	}
	if a := pos[0].Annotations; len(a) != 1 || a[0].Type != "modelarts/text_classification" || a[0].Name != "positive" {
		t.Fatalf("annotations = %+v", a)
	}
	st, err := h.svc.Stats(h.ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 7 || st.Annotated != 5 {
		t.Fatalf("stats = %+v, want 7 samples, 5 annotated", st)
	}
	if sport := h.allSamples(d.ID, atelier.SampleFilter{Label: "sport"}); len(sport) != 1 || sport[0].Source != "content://match won" {
		t.Fatalf("sport samples = %+v", sport)
	}
}

func TestImportAudioClassification(t *testing.T) {
	h := newHarness(t, 0, nil)
	h.mustPut("snd/bark/1.wav", "RIFF")
	h.mustPut("snd/meow/2.wav", "RIFF")
	h.mustPut("snd/3.wav", "RIFF")
	h.mustPut("snd/3.txt", "meow\n")
	d, task := h.mustCreate(atelier.DatasetSpec{Name: "snd", DatasetType: intp(atelier.DatasetSoundClassification),
		DataPath: "/data/snd/", WorkPath: "/work/out/",
		AnnotationConfig: &atelier.AnnotationConfig{Scene: "audio_classification", FormatName: "ModelArts audio classification dir 1.0"}})
	wantTask(t, task, atelier.TaskCompleted, 3, 0)
	if task.Format != dataset.FormatAudioClassification {
		t.Fatalf("format = %q", task.Format)
	}
	if got := labelsOf(h, d.ID); !slices.Equal(got, []string{"bark", "meow"}) {
		t.Fatalf("labels = %q", got)
	}
	meow := h.allSamples(d.ID, atelier.SampleFilter{Label: "meow"})
	if got := sources(meow); !slices.Equal(got, []string{"obs://data/snd/3.wav", "obs://data/snd/meow/2.wav"}) {
		t.Fatalf("meow samples = %q", got)
	}
	if a := meow[0].Annotations; len(a) != 1 || a[0].Type != "modelarts/audio_classification" {
		t.Fatalf("annotations = %+v", a)
	}

	t.Run("the scene alone picks the format", func(t *testing.T) {
		task, err := h.svc.ImportData(h.ctx, d.ID, atelier.ImportRequest{Path: "/data/snd/",
			AnnotationConfig: &atelier.AnnotationConfig{Scene: "audio_classification"}})
		if err != nil {
			t.Fatal(err)
		}
		if task.Format != dataset.FormatAudioClassification {
			t.Fatalf("format = %q", task.Format)
		}
		h.waitImport(d.ID, task.ID)
	})
}

// An import asked for annotations (annotation_config) that finds none says
// so in the task, instead of completing as if all was well.
func TestImportSaysWhenNoAnnotationsFound(t *testing.T) {
	h := newHarness(t, 0, nil)
	h.mustPut("plain/a.jpg", png)
	h.mustPut("plain/b.jpg", png)
	h.mustPut("vid/a.mp4", "mp4")
	h.mustPut("txt/a.txt", "one line without a label\n")
	cases := []struct {
		name string
		spec atelier.DatasetSpec
		want string
	}{
		{"image classification without label directories",
			atelier.DatasetSpec{DatasetType: intp(0), DataPath: "/data/plain/",
				AnnotationConfig: &atelier.AnnotationConfig{Scene: "image_classification"}},
			"ModelArts image classification 1.0"},
		{"a data type with no annotation format",
			atelier.DatasetSpec{DataType: atelier.DataVideo, DataPath: "/data/vid/", AnnotationConfig: &atelier.AnnotationConfig{}},
			"reads no annotations"},
		{"text classification without labels",
			atelier.DatasetSpec{DatasetType: intp(atelier.DatasetTextClassification), DataPath: "/data/txt/",
				AnnotationConfig: &atelier.AnnotationConfig{Scene: "text_classification"}},
			"text<TAB>label"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.spec.Name = "none" + string(rune('a'+i))
			c.spec.WorkPath = "/work/out/"
			_, task := h.mustCreate(c.spec)
			if task.State != atelier.TaskCompleted || task.Imported == 0 || len(task.Errors) != 1 ||
				!strings.Contains(task.Errors[0], "no annotations") || !strings.Contains(task.Errors[0], c.want) {
				t.Fatalf("task = %s imported %d, errors %q; want a note naming %q", task.State, task.Imported, task.Errors, c.want)
			}
		})
	}
	t.Run("no note without annotation_config", func(t *testing.T) {
		_, task := h.mustCreate(atelier.DatasetSpec{Name: "quiet", DatasetType: intp(0), DataPath: "/data/plain/", WorkPath: "/work/out/"})
		if len(task.Errors) != 0 {
			t.Fatalf("errors = %q", task.Errors)
		}
	})
}

func TestImportUnknownFormatName(t *testing.T) {
	h := newHarness(t, 0, nil)
	h.mustPut("plain/a.jpg", png)
	_, _, err := h.svc.CreateDataset(h.ctx, atelier.DatasetSpec{Name: "odd", DatasetType: intp(0), DataPath: "/data/plain/", WorkPath: "/work/out/",
		AnnotationConfig: &atelier.AnnotationConfig{FormatName: "ModelArts image classification 9.9"}})
	wantCode(t, err, atelier.CodeDatasetType, "annotation_config.format_name")
	if !strings.Contains(atelier.ErrorMessage(err), "ModelArts PASCAL VOC 1.0") {
		t.Fatalf("message %q does not list the formats", atelier.ErrorMessage(err))
	}
}
