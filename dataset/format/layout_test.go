package format

import (
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
)

func TestClassifyPath(t *testing.T) {
	for _, tt := range []struct {
		key, dataType string
		want          PathKind
	}{
		{"root/cat/1.jpg", atelier.DataImage, KindData},
		{"root/cat/1.JPEG", atelier.DataImage, KindData},
		{"root/1.txt", atelier.DataImage, KindLabel},
		{"root/1.xml", atelier.DataImage, KindVOC},
		{"root/1.xml", atelier.DataText, KindOther},
		{"root/1.txt", atelier.DataText, KindData},
		{"root/1.json", atelier.DataText, KindData},
		{"root/1.wav", atelier.DataAudio, KindData},
		{"root/1.txt", atelier.DataAudio, KindLabel},
		{"root/1.mkv", atelier.DataVideo, KindData},
		{"root/t.csv", atelier.DataTable, KindData},
		{"root/t.tsv", atelier.DataTable, KindOther},
		{"root/README.md", atelier.DataImage, KindOther},
		{"root/V001.manifest", atelier.DataImage, KindManifest},
		{"root/dir/", atelier.DataImage, KindOther},
		{"root/anything.bin", atelier.DataFreeFormat, KindData},
		{"root/noext", atelier.DataImage, KindOther},
		{"root/x.jpg", "NOPE", KindOther},
	} {
		if got := ClassifyPath(tt.key, tt.dataType); got != tt.want {
			t.Errorf("ClassifyPath(%q, %s) = %v, want %v", tt.key, tt.dataType, got, tt.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	if !KindOf(atelier.DataImage, "a/b.PNG") || KindOf(atelier.DataImage, "a/b.txt") || !KindOf(atelier.DataFreeFormat, "x") || KindOf("NOPE", "a.jpg") {
		t.Fatal("KindOf")
	}
	err := CheckKind(atelier.DataImage, "bucket-dir/notes.txt")
	if atelier.ErrorCode(err) != atelier.CodeDatasetFileKind.ID || !strings.Contains(err.Error(), `"notes.txt"`) || strings.Contains(err.Error(), "bucket-dir") {
		t.Fatalf("CheckKind = %v", err)
	}
	if err := CheckKind("NOPE", "a.jpg"); atelier.ErrorCode(err) != atelier.CodeDatasetType.ID {
		t.Fatalf("CheckKind(unknown) = %v", err)
	}
	if CheckKind(atelier.DataTable, "t.CSV") != nil {
		t.Fatal("CheckKind(table csv)")
	}
	for dt := range Extensions {
		if _, ok := map[string]bool{atelier.DataImage: true, atelier.DataAudio: true, atelier.DataVideo: true, atelier.DataText: true, atelier.DataTable: true}[dt]; !ok {
			t.Errorf("Extensions has unknown data type %q", dt)
		}
	}
}

func TestLabelFromDir(t *testing.T) {
	for _, tt := range []struct {
		prefix, key string
		want        string
		ok          bool
	}{
		{"root/", "root/cat/1.jpg", "cat", true},
		{"root", "root/cat/1.jpg", "cat", true},
		{"", "dog/1.jpg", "dog", true},
		{"root/", "root/cat/black/1.jpg", "cat", true},
		{"root/", "root/1.jpg", "", false},
		{"root/", "other/cat/1.jpg", "", false},
		{"root/", "root/cat/", "", false},
		{"root/", "rootx/cat/1.jpg", "", false},
	} {
		got, ok := LabelFromDir(tt.prefix, tt.key)
		if got != tt.want || ok != tt.ok {
			t.Errorf("LabelFromDir(%q, %q) = %q, %v; want %q, %v", tt.prefix, tt.key, got, ok, tt.want, tt.ok)
		}
	}
	if LabelKey("r/c/1.jpg") != "r/c/1.txt" || VOCKey("r/c/1.v2.png") != "r/c/1.v2.xml" || BaseKey("r/c.d/1") != "r/c.d/1" {
		t.Fatal("pairing keys")
	}
	as := ClassificationAnnotations(TypeImageClassification, []string{"cat"})
	if len(as) != 1 || as[0].Type != TypeImageClassification || as[0].Name != "cat" {
		t.Fatalf("ClassificationAnnotations = %+v", as)
	}
}
