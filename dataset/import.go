package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/dataset/format"
	"github.com/atelier-dev/atelier/store"
)

// obsPath is a parsed OBS location: a bucket and a key, or a key prefix
// ("" or ending in "/") for a directory.
type obsPath struct {
	Bucket string
	Key    string
}

func (p obsPath) isDir() bool { return p.Key == "" || strings.HasSuffix(p.Key, "/") }

// String is the obs://bucket/key form of samples' sources.
func (p obsPath) String() string { return format.ObjectURI(p.Bucket, p.Key) }

// dirString is the /bucket/dir/ form of datasets' paths.
func (p obsPath) dirString() string { return "/" + p.Bucket + "/" + p.Key }

// parseObsPath parses /bucket/key, obs://bucket/key or s3://bucket/key by
// atelier.ParseObjectPath. A path ending in "/" is a directory; so is a
// bucket alone.
func parseObsPath(s string) (obsPath, error) {
	p, err := atelier.ParseObjectPath(s)
	return obsPath(p), err
}

// lineMsg renders a reader's error about one line as "name:line: message".
func lineMsg(name string, err error) string {
	var le *format.LineError
	if errors.As(err, &le) {
		return fmt.Sprintf("%s:%d: %s", name, le.Line, le.Msg)
	}
	return fmt.Sprintf("%s: %v", name, err)
}

// cursor is everything a resumed import needs, stored in ImportTask.Cursor
// as JSON: the tenant it acts for, its options, and how far it got.
type cursor struct {
	Tenant string `json:"t"`
	// Ann says to import annotations; Header that table files start with
	// a header row.
	Ann    bool `json:"a,omitempty"`
	Header bool `json:"h,omitempty"`
	// After is the last listed key fully handled; File the key of the
	// file being read line by line, Line its last line handled.
	After string `json:"k,omitempty"`
	File  string `json:"f,omitempty"`
	Line  int    `json:"l,omitempty"`
	// Annotated counts the samples taken with annotations, so that an
	// import asked for annotations can say when it found none.
	Annotated int64 `json:"n,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return string(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	err := json.Unmarshal([]byte(s), &c)
	return c, err
}

// newImport records a QUEUED import task of path into d and starts it.
func (s *Service) newImport(ctx context.Context, tenant string, d *atelier.Dataset, path, format string, ann, header bool) (*atelier.ImportTask, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.imports[d.ID]; r != nil {
		return nil, atelier.CodeDatasetVersionRun.Errorf("The import %s of this dataset is still running.", r.taskID).WithField("dataset_id")
	}
	now := s.now()
	t := &atelier.ImportTask{
		ID: atelier.NewID(), DatasetID: d.ID, Path: path, Format: format,
		State:     atelier.TaskQueued,
		Cursor:    cursor{Tenant: tenant, Ann: ann, Header: header}.encode(),
		CreatedAt: now, UpdatedAt: now,
	}
	if err := s.st.CreateImportTask(ctx, t); err != nil {
		return nil, fmt.Errorf("dataset: create import task: %w", err)
	}
	if !s.stopped {
		s.launchImport(tenant, t)
	}
	return t, nil
}

// launchImport runs t in the background. s.mu must be held.
func (s *Service) launchImport(tenant string, t *atelier.ImportTask) {
	if s.imports[t.DatasetID] != nil {
		return
	}
	ctx, cancel := context.WithCancel(tenantCtx(s.ctx, tenant))
	r := &running{taskID: t.ID, cancel: cancel, done: make(chan struct{})}
	s.imports[t.DatasetID] = r
	task := *t
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.taskEnded(task.ID)
		defer close(r.done)
		defer func() {
			s.mu.Lock()
			delete(s.imports, task.DatasetID)
			s.mu.Unlock()
			cancel()
		}()
		s.runImport(ctx, tenant, &task)
	}()
}

// stopImport cancels the running import of a dataset, if any, and waits for
// it to end.
func (s *Service) stopImport(datasetID string) {
	s.mu.Lock()
	r := s.imports[datasetID]
	s.mu.Unlock()
	if r != nil {
		r.cancel()
		<-r.done
	}
}

// errCrash ends an import as a crash would (the afterBatch test hook).
var errCrash = errors.New("dataset: import interrupted")

// runImport runs an import task to its end: COMPLETED, or FAILED with the
// reason. A canceled ctx leaves it RUNNING, to be resumed.
func (s *Service) runImport(ctx context.Context, tenant string, t *atelier.ImportTask) {
	d, err := s.st.GetDataset(ctx, tenant, t.DatasetID)
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "dataset: import of a missing dataset", "dataset", t.DatasetID, "task", t.ID, "err", err)
			s.endImport(ctx, t, atelier.TaskFailed, "The dataset no longer exists.")
		}
		return
	}
	cur, err := decodeCursor(t.Cursor)
	if err != nil {
		s.endImport(ctx, t, atelier.TaskFailed, "The import's stored state is unreadable; start it again.")
		return
	}
	if t.State == atelier.TaskQueued {
		t.State = atelier.TaskRunning
		if _, err := s.st.UpdateImportTask(ctx, d.ID, t.ID, func(st *atelier.ImportTask) error {
			st.State = atelier.TaskRunning
			st.UpdatedAt = s.now()
			return nil
		}); err != nil {
			s.log.ErrorContext(ctx, "dataset: start import", "task", t.ID, "err", err)
			return
		}
	}
	im := &importer{s: s, ctx: ctx, d: d, t: t, cur: cur, buckets: map[string]bool{}, labels: map[string]bool{}}
	for _, l := range d.Labels {
		im.labels[l.Name] = true
	}
	err = im.run()
	switch {
	case errors.Is(err, errCrash), ctx.Err() != nil:
		return
	case err != nil:
		msg := "The import failed on a server error; see the server log."
		var ae *atelier.Error
		if errors.As(err, &ae) {
			msg = ae.Message
		} else {
			s.log.ErrorContext(ctx, "dataset: import", "dataset", d.ID, "task", t.ID, "err", err)
		}
		s.endImport(ctx, t, atelier.TaskFailed, msg)
	default:
		s.endImport(ctx, t, atelier.TaskCompleted, im.noAnnotations())
	}
}

// noAnnotationsHint says, per format, where that format finds annotations.
var noAnnotationsHint = map[string]string{
	FormatImageClassification: "put each image in a sub-directory named after its label (cat/1.jpg), or give it a label file of the same name (1.txt next to 1.jpg)",
	FormatVOC:                 "give each image a PASCAL VOC file of the same name (1.xml next to 1.jpg)",
	FormatTextClassification:  `write each line as text<TAB>label, or give each text file a label file of the same name with "_result" (news_result.txt next to news.txt), one label per line`,
	FormatAudioClassification: "put each audio file in a sub-directory named after its label (bark/1.wav), or give it a label file of the same name (1.txt next to 1.wav)",
	FormatManifest:            `give the lines an "annotation" list`,
}

// noAnnotations returns the task's note when the import was asked for
// annotations (annotation_config) and took samples but no annotations,
// and "" otherwise: an import that silently drops every label looks like
// one that had none to find.
func (im *importer) noAnnotations() string {
	if !im.cur.Ann || im.cur.Annotated > 0 || im.t.Imported == 0 {
		return ""
	}
	if hint, ok := noAnnotationsHint[im.t.Format]; ok {
		return fmt.Sprintf("The import found no annotations: annotation_config was given, but no sample of %s had labels in the format %s; %s.", im.t.Path, im.t.Format, hint)
	}
	return fmt.Sprintf("The import found no annotations: the format %s reads no annotations, so annotation_config was ignored; the formats that do are %s, %s, %s and %s, and .manifest files.",
		im.t.Format, FormatImageClassification, FormatVOC, FormatTextClassification, FormatAudioClassification)
}

// endImport records the end of an import with the counts of t.
func (s *Service) endImport(ctx context.Context, t *atelier.ImportTask, state, reason string) {
	_, err := s.st.UpdateImportTask(ctx, t.DatasetID, t.ID, func(st *atelier.ImportTask) error {
		st.State = state
		st.Imported, st.Rejected, st.Cursor = t.Imported, t.Rejected, t.Cursor
		st.Errors = slices.Clone(t.Errors)
		if reason != "" {
			st.Errors = append(st.Errors, reason)
		}
		st.UpdatedAt = s.now()
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.ErrorContext(ctx, "dataset: end import", "task", t.ID, "err", err)
	}
}

// importer is one run of an import task.
type importer struct {
	s   *Service
	ctx context.Context
	d   *atelier.Dataset
	t   *atelier.ImportTask // counts and errors so far
	cur cursor

	batch   []*atelier.Sample
	sources map[string]bool // of batch
	// labels are the dataset's label names; newLabels those to add
	// before the next batch is written.
	labels    map[string]bool
	newLabels []string
	buckets   map[string]bool // tenant bucket names seen: exists or not
}

func (im *importer) run() error {
	if isManifest(im.t.Path) {
		return im.manifest()
	}
	return im.directory()
}

// reject counts a rejected input and keeps its message among the first
// MaxErrors.
func (im *importer) reject(msg string) {
	im.t.Rejected++
	if len(im.t.Errors) < im.s.opts.MaxErrors {
		im.t.Errors = append(im.t.Errors, msg)
	}
}

// add queues a sample for the next batch (a source already in the batch is
// dropped).
func (im *importer) add(smp *atelier.Sample) {
	if im.sources == nil {
		im.sources = map[string]bool{}
	}
	if im.sources[smp.Source] {
		return
	}
	im.sources[smp.Source] = true
	if len(smp.Annotations) > 0 {
		im.cur.Annotated++
	}
	now := im.s.now()
	smp.ID = ""
	smp.DatasetID = im.d.ID
	smp.CreatedAt, smp.UpdatedAt = now, now
	im.batch = append(im.batch, smp)
}

// maybeFlush writes the batch when it is full.
func (im *importer) maybeFlush() error {
	if len(im.batch) < im.s.opts.BatchSize {
		return nil
	}
	return im.flush()
}

// flush writes the batch with the task's progress and cursor in one store
// transaction, after adding the new labels its annotations use.
func (im *importer) flush() error {
	if err := im.ctx.Err(); err != nil {
		return err
	}
	if len(im.newLabels) > 0 {
		if err := im.addLabels(); err != nil {
			return err
		}
	}
	im.t.Imported += int64(len(im.batch))
	im.t.Cursor = im.cur.encode()
	im.t.UpdatedAt = im.s.now()
	task := *im.t
	task.Errors = slices.Clone(im.t.Errors)
	if _, err := im.s.st.AddSamples(im.ctx, im.d.ID, im.batch, &task); err != nil {
		return fmt.Errorf("add samples: %w", err)
	}
	im.batch = im.batch[:0]
	clear(im.sources)
	if h := im.s.opts.afterBatch; h != nil {
		if err := h(&task); err != nil {
			return errCrash
		}
	}
	return nil
}

// addLabels adds the labels that imported annotations use to the dataset
// (plain labels; datasets whose labels are plain only).
func (im *importer) addLabels() error {
	_, err := im.s.st.UpdateDataset(im.ctx, im.d.TenantID, im.d.ID, func(d *atelier.Dataset) error {
		for _, n := range im.newLabels {
			if !slices.ContainsFunc(d.Labels, func(l atelier.Label) bool { return l.Name == n }) {
				d.Labels = append(d.Labels, atelier.Label{Name: n, Type: atelier.LabelPlain})
			}
		}
		d.UpdatedAt = im.s.now()
		return nil
	})
	if err != nil {
		return fmt.Errorf("add labels: %w", err)
	}
	im.newLabels = im.newLabels[:0]
	return nil
}

// useLabels checks the label names of imported annotations: datasets with
// plain labels get the unknown ones added (as ModelArts does); named-entity
// and text triplet datasets reject them. It returns the reason of a
// rejection, or "".
func (im *importer) useLabels(names []string) string {
	for _, n := range names {
		if im.labels[n] {
			continue
		}
		if im.d.DatasetType == atelier.DatasetNamedEntity || im.d.DatasetType == atelier.DatasetTextTriplet {
			return fmt.Sprintf("label %q is not a label of the dataset", n)
		}
		if len(n) > maxLabelName || len(im.labels) >= maxLabels {
			return fmt.Sprintf("label %q cannot be added to the dataset", n)
		}
		im.labels[n] = true
		im.newLabels = append(im.newLabels, n)
	}
	return ""
}

// finish writes the last batch.
func (im *importer) finish() error {
	if len(im.batch) > 0 || len(im.newLabels) > 0 {
		return im.flush()
	}
	im.t.Cursor = im.cur.encode()
	return nil
}

func errSourceMissing() error {
	return atelier.CodeDatasetSource.Errorf("The import path is missing or empty.").WithField("import_path")
}

// directory lists the import directory in pages, from the cursor on, and
// hands each object to the format's handler.
func (im *importer) directory() error {
	p, err := parseObsPath(im.t.Path)
	if err != nil {
		return errSourceMissing()
	}
	if !p.isDir() {
		p.Key += "/"
	}
	fresh := im.cur.After == "" && im.cur.File == ""
	q := atelier.ListQuery{Prefix: p.Key, StartAfter: im.cur.After}
	seen := false
	for {
		page, err := im.s.objects.ListObjects(im.ctx, p.Bucket, q)
		if err != nil {
			if atelier.ErrorCode(err) == atelier.CodeBucketNotFound.ID {
				return errSourceMissing()
			}
			return fmt.Errorf("list %s: %w", p.Key, err)
		}
		for _, o := range page.Objects {
			if err := im.ctx.Err(); err != nil {
				return err
			}
			seen = true
			if !strings.HasSuffix(o.Key, "/") {
				if err := im.object(p, o); err != nil {
					return err
				}
			}
			im.cur.After, im.cur.File, im.cur.Line = o.Key, "", 0
			if err := im.maybeFlush(); err != nil {
				return err
			}
		}
		if !page.IsTruncated || page.NextContinuationToken == "" {
			break
		}
		q.ContinuationToken, q.StartAfter = page.NextContinuationToken, ""
	}
	if fresh && !seen {
		return errSourceMissing()
	}
	return im.finish()
}

// object imports one listed object of a directory by the task's format.
// Data files of the dataset's kind are samples; label files (image
// classification) and VOC files are read with their data file; anything
// else is rejected.
func (im *importer) object(dir obsPath, o *atelier.Object) error {
	key := o.Key
	name := key[len(dir.Key):]
	kind := format.ClassifyPath(key, im.d.DataType)
	switch {
	case kind == format.KindLabel && (im.t.Format == FormatImageClassification || im.t.Format == FormatAudioClassification),
		kind == format.KindVOC && im.t.Format == FormatVOC,
		kind == format.KindData && im.t.Format == FormatTextClassification && format.IsResultKey(key):
		return nil // read with its data file
	case kind != format.KindData:
		im.reject(name + ": " + atelier.ErrorMessage(format.CheckKind(im.d.DataType, key)))
		return nil
	}
	switch im.t.Format {
	case FormatCSV:
		return im.table(dir.Bucket, key, name)
	case FormatText:
		return im.text(dir.Bucket, key, name)
	case FormatVOC:
		return im.voc(dir.Bucket, key, name)
	case FormatImageClassification:
		return im.classified(dir, key, name, format.TypeImageClassification)
	case FormatAudioClassification:
		return im.classified(dir, key, name, format.TypeAudioClassification)
	case FormatTextClassification:
		return im.textClassified(dir.Bucket, key, name)
	}
	im.add(&atelier.Sample{Source: format.ObjectURI(dir.Bucket, key)})
	return nil
}

// open opens an object; a missing one gives (nil, nil).
func (im *importer) open(bucket, key string) (io.ReadCloser, error) {
	_, rc, _, err := im.s.objects.GetObject(im.ctx, bucket, key, nil)
	if err != nil {
		if atelier.ErrorCode(err) == atelier.CodeObjectNotFound.ID {
			return nil, nil
		}
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return rc, nil
}

// classified imports an image of the "ModelArts image classification 1.0"
// layout, or an audio file of its audio twin: its label is its
// sub-directory (cat/1.jpg), or the lines of a label file of the same name
// (1.txt next to 1.jpg). Without either it is imported unlabelled. typ is
// the annotations' type.
func (im *importer) classified(dir obsPath, key, name, typ string) error {
	bucket := dir.Bucket
	smp := &atelier.Sample{Source: format.ObjectURI(bucket, key)}
	var labels []string
	if l, ok := format.LabelFromDir(dir.Key, key); ok {
		labels = []string{l}
	} else {
		rc, err := im.open(bucket, format.LabelKey(key))
		if err != nil {
			return err
		}
		if rc != nil {
			labels, err = format.ReadLabelFile(rc, maxLabels)
			rc.Close()
			if err != nil {
				im.reject(lineMsg(path.Base(format.LabelKey(key)), err))
				return nil
			}
		}
	}
	if len(labels) > 0 {
		if why := im.useLabels(labels); why != "" {
			im.reject(name + ": " + why)
			return nil
		}
		smp.Annotations = format.ClassificationAnnotations(typ, labels)
		for i := range smp.Annotations {
			smp.Annotations[i].AnnotatedBy = "human"
		}
		smp.Labels = labels
	}
	im.add(smp)
	return nil
}

// voc imports an image with the annotations of its PASCAL VOC file of the
// same name (1.xml next to 1.jpg), if any. A malformed file, or one with a
// box outside the image, rejects the image.
func (im *importer) voc(bucket, key, name string) error {
	smp := &atelier.Sample{Source: format.ObjectURI(bucket, key)}
	xmlName := format.BaseKey(name) + format.VOCExt
	rc, err := im.open(bucket, format.VOCKey(key))
	if err != nil {
		return err
	}
	if rc != nil {
		v, err := format.ParseVOC(rc)
		rc.Close()
		if err != nil {
			im.reject(fmt.Sprintf("%s: %v", xmlName, err))
			return nil
		}
		as := v.Annotations()
		var names []string
		for i := range as {
			as[i].AnnotatedBy = "human"
			if !slices.Contains(names, as[i].Name) {
				names = append(names, as[i].Name)
			}
		}
		if why := im.useLabels(names); why != "" {
			im.reject(xmlName + ": " + why)
			return nil
		}
		smp.Annotations, smp.Labels = as, names
	}
	im.add(smp)
	return nil
}

// lineSource is the source of a line of a file: obs://bucket/key#L<n>.
func lineSource(bucket, key string, n int) string {
	return format.ObjectURI(bucket, key) + "#L" + strconv.Itoa(n)
}

// startFile returns the line after which reading key starts (the cursor's,
// when the import stopped inside it) and marks key as the file in progress.
func (im *importer) startFile(key string) int {
	skip := 0
	if im.cur.File == key {
		skip = im.cur.Line
	}
	im.cur.File, im.cur.Line = key, skip
	return skip
}

// table imports the rows of a CSV file, one sample per row, checked against
// the schema; the row is in the annotation property "row" (column name to
// cell).
func (im *importer) table(bucket, key, name string) error {
	rc, err := im.open(bucket, key)
	if err != nil || rc == nil {
		return err
	}
	defer rc.Close()
	skip := im.startFile(key)
	tr := format.NewTableReader(rc, im.d.Schema, im.cur.Header)
	for {
		cells, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		n := tr.Line()
		if err != nil && !format.IsLineError(err) {
			if ctxErr := im.ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			// A bad header or a runaway record ends this file only.
			var he *format.HeaderError
			if errors.As(err, &he) || errors.Is(err, format.ErrTooLong) {
				im.reject(fmt.Sprintf("%s: %v", name, err))
				return nil
			}
			return fmt.Errorf("read %s: %w", name, err)
		}
		if n <= skip {
			continue
		}
		if err != nil {
			im.reject(lineMsg(name, err))
		} else {
			row := make(map[string]any, len(cells))
			for i, c := range cells {
				row[im.d.Schema[i].Name] = c
			}
			im.add(&atelier.Sample{
				Source:      lineSource(bucket, key, n),
				Annotations: []atelier.Annotation{{Type: TypeTableRow, Property: map[string]any{PropRow: row}}},
			})
		}
		im.cur.Line = n
		if err := im.maybeFlush(); err != nil {
			return err
		}
	}
}

// Table rows: the annotation type and property holding a row's cells.
const (
	TypeTableRow = "modelarts/table"
	PropRow      = "row"
)

// text imports the non-blank lines of a text file, one sample per line.
func (im *importer) text(bucket, key, name string) error {
	rc, err := im.open(bucket, key)
	if err != nil || rc == nil {
		return err
	}
	defer rc.Close()
	skip := im.startFile(key)
	tr := format.NewTextReader(rc)
	for {
		_, n, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !format.IsLineError(err) {
			if ctxErr := im.ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return fmt.Errorf("read %s: %w", name, err)
		}
		if n <= skip {
			continue
		}
		if err != nil {
			im.reject(lineMsg(name, err))
		} else {
			im.add(&atelier.Sample{Source: lineSource(bucket, key, n)})
		}
		im.cur.Line = n
		if err := im.maybeFlush(); err != nil {
			return err
		}
	}
}

// textClassified imports the non-blank lines of a text file of the
// "ModelArts text classification" formats, one sample per line with its
// text inline (content://), labelled by the label file of the same name
// plus "_result" when there is one (line n labels line n), or else by the
// part of the line after its last tab ("text<TAB>label").
func (im *importer) textClassified(bucket, key, name string) error {
	rc, err := im.open(bucket, key)
	if err != nil || rc == nil {
		return err
	}
	defer rc.Close()
	var labels *format.LabelLines
	resultName := path.Base(format.ResultKey(key))
	lrc, err := im.open(bucket, format.ResultKey(key))
	if err != nil {
		return err
	}
	if lrc != nil {
		defer lrc.Close()
		labels = format.NewLabelLines(lrc)
	}
	skip := im.startFile(key)
	tr := format.NewTextReader(rc)
	for {
		line, n, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !format.IsLineError(err) {
			if ctxErr := im.ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return fmt.Errorf("read %s: %w", name, err)
		}
		if n <= skip {
			continue
		}
		text, label, where := line, "", name
		if err == nil && labels != nil {
			label, err = labels.Line(n)
			if err != nil && !format.IsLineError(err) {
				if ctxErr := im.ctx.Err(); ctxErr != nil {
					return ctxErr
				}
				return fmt.Errorf("read %s: %w", resultName, err)
			}
			if err != nil {
				where = resultName
			}
		} else if err == nil {
			text, label = format.SplitTextLabel(line)
		}
		switch {
		case err != nil:
			im.reject(lineMsg(where, err))
		case strings.TrimSpace(text) == "":
			im.reject(fmt.Sprintf("%s:%d: the line has a label but no text", name, n))
		default:
			smp := &atelier.Sample{Source: format.SchemeContent + text}
			if label != "" {
				if why := im.useLabels([]string{label}); why != "" {
					im.reject(fmt.Sprintf("%s:%d: %s", name, n, why))
					break
				}
				smp.Annotations = format.ClassificationAnnotations(format.TypeTextClassification, []string{label})
				smp.Annotations[0].AnnotatedBy = "human"
				smp.Labels = []string{label}
			}
			im.add(smp)
		}
		im.cur.Line = n
		if err := im.maybeFlush(); err != nil {
			return err
		}
	}
}

// manifest imports the lines of a manifest: each a sample whose source must
// be in one of the tenant's buckets; its annotations are kept when the
// import asked for them.
func (im *importer) manifest() error {
	p, err := parseObsPath(im.t.Path)
	if err != nil {
		return errSourceMissing()
	}
	rc, err := im.open(p.Bucket, p.Key)
	if err != nil {
		if atelier.ErrorCode(err) == atelier.CodeBucketNotFound.ID {
			return errSourceMissing()
		}
		return err
	}
	if rc == nil {
		return errSourceMissing()
	}
	defer rc.Close()
	name := path.Base(p.Key)
	skip := im.startFile(p.Key)
	mr := format.NewManifestReader(rc)
	for {
		smp, err := mr.Next()
		if err == io.EOF {
			break
		}
		n := mr.Line()
		if err != nil && !format.IsLineError(err) {
			if ctxErr := im.ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return fmt.Errorf("read %s: %w", name, err)
		}
		if n <= skip {
			continue
		}
		if err != nil {
			im.reject(lineMsg(name, err))
		} else if why, err := im.manifestSample(smp); err != nil {
			return err
		} else if why != "" {
			im.reject(fmt.Sprintf("%s:%d: %s", name, n, why))
		} else {
			im.add(smp)
		}
		im.cur.Line = n
		if err := im.maybeFlush(); err != nil {
			return err
		}
	}
	im.cur.After = p.Key
	return im.finish()
}

// manifestSample checks a manifest sample: its source and annotation files
// must lie in the tenant's buckets and its labels fit the dataset. It
// returns the reason of a rejection, or "".
func (im *importer) manifestSample(smp *atelier.Sample) (string, error) {
	if _, ok := format.ContentText(smp.Source); !ok {
		b, _, err := format.ParseSource(smp.Source)
		if err != nil {
			return "source: " + err.Error(), nil
		}
		ok, err := im.bucketExists(b)
		if err != nil {
			return "", err
		}
		if !ok {
			return "source is outside your buckets", nil
		}
	}
	if !im.cur.Ann {
		smp.Annotations, smp.Labels = nil, nil
		return "", nil
	}
	for i, a := range smp.Annotations {
		if a.AnnotationLoc == "" {
			continue
		}
		b, _, err := format.ParseSource(a.AnnotationLoc)
		if err != nil {
			return fmt.Sprintf("annotation[%d].annotation-loc: %v", i, err), nil
		}
		ok, err := im.bucketExists(b)
		if err != nil {
			return "", err
		}
		if !ok {
			return fmt.Sprintf("annotation[%d].annotation-loc is outside your buckets", i), nil
		}
	}
	return im.useLabels(smp.Labels), nil
}

// bucketExists reports whether the tenant has the bucket (cached).
func (im *importer) bucketExists(name string) (bool, error) {
	if ok, seen := im.buckets[name]; seen {
		return ok, nil
	}
	_, err := im.s.objects.GetBucket(im.ctx, name)
	switch {
	case err == nil:
		im.buckets[name] = true
	case atelier.ErrorCode(err) == atelier.CodeBucketNotFound.ID, atelier.ErrorCode(err) == atelier.CodeInvalidBucketName.ID:
		im.buckets[name] = false
	default:
		return false, fmt.Errorf("get bucket: %w", err)
	}
	return im.buckets[name], nil
}

// ListImportTasks returns a dataset's import tasks, newest first.
func (s *Service) ListImportTasks(ctx context.Context, id string) ([]*atelier.ImportTask, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.dataset(ctx, tenant, id); err != nil {
		return nil, err
	}
	ts, err := s.st.ListImportTasks(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("dataset: list import tasks: %w", err)
	}
	if ts == nil {
		ts = []*atelier.ImportTask{}
	}
	return ts, nil
}

// GetImportTask returns an import task of a dataset.
func (s *Service) GetImportTask(ctx context.Context, id, taskID string) (*atelier.ImportTask, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.dataset(ctx, tenant, id); err != nil {
		return nil, err
	}
	t, err := s.st.GetImportTask(ctx, id, taskID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, atelier.CodeDatasetNotFound.Errorf("The import task %q does not exist.", taskID).WithField("task_id")
		}
		return nil, fmt.Errorf("dataset: get import task: %w", err)
	}
	return t, nil
}
