package format

import (
	"path"
	"slices"
	"strings"

	"github.com/atelier-dev/atelier"
)

// Extensions lists, per atelier data type, the extensions (lower case,
// with the dot) of its data files. FREE_FORMAT takes any file and has no
// entry. Callers must not modify it.
var Extensions = map[string][]string{
	atelier.DataImage: {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"},
	atelier.DataAudio: {".wav", ".mp3", ".flac", ".m4a", ".aac", ".ogg"},
	atelier.DataVideo: {".mp4", ".avi", ".mov", ".mkv", ".flv", ".wmv"},
	atelier.DataText:  {".txt", ".csv", ".tsv", ".json"},
	atelier.DataTable: {".csv"},
}

// Extension of the files kept next to data files.
const (
	LabelExt    = ".txt" // label names, one per line (image classification 1.0)
	VOCExt      = ".xml" // a PASCAL VOC file (ModelArts PASCAL VOC 1.0)
	ManifestExt = ".manifest"
)

// PathKind is what an object key is to a directory import.
type PathKind int

// The kinds of object keys.
const (
	// KindOther is any other object (e.g. a README): an import skips it.
	KindOther PathKind = iota
	// KindData is a data file of the dataset's data type.
	KindData
	// KindLabel is a label file: a .txt in an IMAGE, AUDIO or VIDEO dataset,
	// holding the label names of the data file with the same base name.
	KindLabel
	// KindVOC is a PASCAL VOC annotation (.xml) of an IMAGE dataset's image
	// with the same base name.
	KindVOC
	// KindManifest is a .manifest file.
	KindManifest
)

// String returns the kind's name.
func (k PathKind) String() string {
	switch k {
	case KindData:
		return "data"
	case KindLabel:
		return "label"
	case KindVOC:
		return "voc"
	case KindManifest:
		return "manifest"
	}
	return "other"
}

// Ext returns the lower-cased extension of key's base name, with the dot.
func Ext(key string) string { return strings.ToLower(path.Ext(key)) }

// KindOf reports whether key names a data file of dataType, by its
// extension (in any case). Every key fits FREE_FORMAT; no key fits an
// unknown data type.
func KindOf(dataType, key string) bool {
	if dataType == atelier.DataFreeFormat {
		return !strings.HasSuffix(key, "/") && key != ""
	}
	return slices.Contains(Extensions[dataType], Ext(key))
}

// CheckKind returns nil when key names a data file of dataType, and
// otherwise an atelier.CodeDatasetFileKind error naming the file (by its
// base name) and the extensions the data type takes.
func CheckKind(dataType, key string) error {
	if KindOf(dataType, key) {
		return nil
	}
	exts, ok := Extensions[dataType]
	if !ok && dataType != atelier.DataFreeFormat {
		return atelier.CodeDatasetType.Errorf("The data type %q is unknown.", dataType).WithField("data_type")
	}
	return atelier.CodeDatasetFileKind.Errorf("The file %q does not fit a %s dataset, whose files end with %s.",
		path.Base(key), dataType, strings.Join(exts, ", "))
}

// ClassifyPath says what key is to a directory import into a dataset of
// dataType. A data file wins over a label file, so a .txt is data in a TEXT
// dataset and a label file in an IMAGE, AUDIO or VIDEO dataset; .xml is a
// VOC file in an IMAGE dataset. Keys ending in "/" (directory markers) are
// KindOther.
func ClassifyPath(key, dataType string) PathKind {
	if key == "" || strings.HasSuffix(key, "/") {
		return KindOther
	}
	ext := Ext(key)
	switch {
	case ext == ManifestExt:
		return KindManifest
	case dataType != atelier.DataFreeFormat && KindOf(dataType, key):
		return KindData
	case ext == LabelExt && (dataType == atelier.DataImage || dataType == atelier.DataAudio || dataType == atelier.DataVideo):
		return KindLabel
	case ext == VOCExt && dataType == atelier.DataImage:
		return KindVOC
	case dataType == atelier.DataFreeFormat:
		return KindData
	}
	return KindOther
}

// BaseKey is key without its extension: a data file and its label or VOC
// file share it ("root/cat/1.jpg" and "root/cat/1.txt" → "root/cat/1").
func BaseKey(key string) string { return strings.TrimSuffix(key, path.Ext(key)) }

// LabelKey returns the key of dataKey's label file.
func LabelKey(dataKey string) string { return BaseKey(dataKey) + LabelExt }

// VOCKey returns the key of dataKey's PASCAL VOC file.
func VOCKey(dataKey string) string { return BaseKey(dataKey) + VOCExt }

// LabelFromDir applies the label-subdirectory rule of the "ModelArts image
// classification 1.0" layout: a data file in a subdirectory of the import
// root is labelled with that subdirectory's name. prefix is the root's key
// prefix ("" or ending with "/"). For "root/cat/1.jpg" under
// "root/" it returns "cat" and true; for a file directly under the root, or
// a key outside it, "" and false. Deeper files take the first-level
// subdirectory: "root/cat/black/1.jpg" is labelled "cat".
func LabelFromDir(prefix, key string) (string, bool) {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	rel, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", false
	}
	dir, rest, ok := strings.Cut(rel, "/")
	if !ok || dir == "" || rest == "" {
		return "", false
	}
	return dir, true
}

// ClassificationAnnotations returns one annotation of type typ
// (TypeImageClassification, TypeAudioClassification or
// TypeTextClassification) per label name, as a classification import makes
// them.
func ClassificationAnnotations(typ string, labels []string) []atelier.Annotation {
	out := make([]atelier.Annotation, len(labels))
	for i, l := range labels {
		out[i] = atelier.Annotation{Type: typ, Name: l}
	}
	return out
}

// ResultSuffix ends the label file of a text classification content file
// ("news.txt" has its labels in "news_result.txt"), in the separate form
// of "ModelArts text classification 1.0".
const ResultSuffix = "_result" + LabelExt

// ResultKey returns the key of contentKey's label file.
func ResultKey(contentKey string) string { return BaseKey(contentKey) + ResultSuffix }

// IsResultKey reports whether key names a text classification label file.
func IsResultKey(key string) bool { return strings.HasSuffix(strings.ToLower(key), ResultSuffix) }
