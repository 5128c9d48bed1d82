package main

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/progress"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/spf13/cobra"
)

// datasetPollInterval is how often -w asks for an import's or export's
// state. A variable so tests can shorten it.
var datasetPollInterval = time.Second

// importErrorsShown is how many of an import's first errors are printed.
const importErrorsShown = 5

// newDatasetCommand returns `atelier dataset`: datasets, their imports,
// samples, versions and exports.
func newDatasetCommand() *cobra.Command {
	cmd := groupCommand("dataset", "Manage datasets: import data, label samples, publish versions")
	cmd.AddCommand(newDatasetCreateCommand(), newDatasetLsCommand(), newDatasetShowCommand(), newDatasetImportCommand(),
		newDatasetSamplesCommand(), newDatasetLabelCommand(), newDatasetVersionCommand(), newDatasetExportCommand(),
		newDatasetRmCommand())
	return cmd
}

// dataTypeNames lists the data types for messages.
var dataTypeNames = []string{core.DataImage, core.DataText, core.DataAudio, core.DataTable, core.DataVideo, core.DataFreeFormat}

// parseLabel parses --label name[:type], or name:102:FROM:TO for a
// relation between the entity labels FROM and TO.
func parseLabel(s string) (core.Label, error) {
	parts := strings.Split(s, ":")
	l := core.Label{Name: parts[0]}
	if l.Name == "" {
		return l, usagef("--label %q has no name; use name[:type]", s)
	}
	if len(parts) == 1 {
		return l, nil
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || (n != core.LabelPlain && n != core.LabelEntity && n != core.LabelRelation) {
		return l, usagef("--label %q: the type must be 0 (plain), 101 (entity) or 102 (relation)", s)
	}
	l.Type = n
	switch {
	case n == core.LabelRelation && len(parts) == 4 && parts[2] != "" && parts[3] != "":
		l.Property = map[string]string{"@modelarts:from_type": parts[2], "@modelarts:to_type": parts[3]}
	case n == core.LabelRelation:
		return l, usagef("--label %q: a relation label is name:102:FROM:TO, naming its two entity labels", s)
	case len(parts) > 2:
		return l, usagef("--label %q is not name[:type]", s)
	}
	return l, nil
}

// parseSchema parses --schema name:TYPE,name:TYPE into columns numbered
// from 1.
func parseSchema(s string) ([]core.SchemaColumn, error) {
	var cols []core.SchemaColumn
	for i, part := range strings.Split(s, ",") {
		name, typ, ok := strings.Cut(strings.TrimSpace(part), ":")
		name, typ = strings.TrimSpace(name), strings.ToUpper(strings.TrimSpace(typ))
		if !ok || name == "" || typ == "" {
			return nil, usagef("--schema column %q is not name:TYPE (e.g. age:INT)", part)
		}
		cols = append(cols, core.SchemaColumn{ID: i + 1, Name: name, Type: typ})
	}
	return cols, nil
}

// annotationFlags are --format and --scene: how an import's annotations
// are laid out.
type annotationFlags struct{ format, scene string }

func (a *annotationFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.format, "format", "", `the annotation format: "ModelArts image classification 1.0", "ModelArts PASCAL VOC 1.0", "ModelArts text classification 1.0", "ModelArts audio classification dir 1.0" (default: data only, or a .manifest's own)`)
	cmd.Flags().StringVar(&a.scene, "scene", "", "the annotation scene, e.g. image_classification, object_detection")
}

func (a *annotationFlags) config() *core.AnnotationConfig {
	if a.format == "" && a.scene == "" {
		return nil
	}
	return &core.AnnotationConfig{Scene: a.scene, FormatName: a.format}
}

// resolveDataset finds a dataset by id, or else by name.
func resolveDataset(cmd *cobra.Command, c *sdk.Client, ref string) (*core.Dataset, error) {
	ctx := ctxOf(cmd)
	d, err := c.GetDataset(ctx, ref)
	if err == nil || core.ErrorKind(err) != core.NotFound {
		return d, err
	}
	ds, lerr := c.ListDatasets(ctx, ref)
	if lerr != nil || len(ds) == 0 {
		return nil, err
	}
	return ds[0], nil
}

// datasetTypeCell renders a dataset type, "-" for none.
func datasetTypeCell(t int) string {
	if t < 0 {
		return "-"
	}
	return strconv.Itoa(t)
}

// waitImport polls an import until it ends, with a progress line on a
// terminal, and reports it. A FAILED import is an error (exit 1).
func waitImport(cmd *cobra.Command, c *sdk.Client, d *core.Dataset, task *core.ImportTask) error {
	bar := progress.New(cmd.ErrOrStderr(), progress.Options{})
	start := time.Now()
	draw := func(t *core.ImportTask) {
		if bar.Enabled() {
			line := progress.Fit(bar.Width(), "Importing into "+d.Name+":", fmt.Sprintf("%d imported, %d rejected", t.Imported, t.Rejected),
				time.Since(start).Round(time.Second).String())
			fmt.Fprintf(cmd.ErrOrStderr(), "\r%s\x1b[K", line)
		}
	}
	final, err := c.WaitImport(ctxOf(cmd), d.ID, task.ID, datasetPollInterval, draw)
	if bar.Enabled() {
		fmt.Fprintln(cmd.ErrOrStderr())
	}
	if err != nil {
		return err
	}
	if isJSON(cmd) {
		if err := printJSON(cmd, final); err != nil {
			return err
		}
	} else {
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "Import %s into %s %s: %d imported, %d rejected\n", final.ID, d.Name, final.State, final.Imported, final.Rejected)
		for i, e := range final.Errors {
			if i == importErrorsShown {
				fmt.Fprintf(out, "  … %d more\n", len(final.Errors)-i)
				break
			}
			fmt.Fprintf(out, "  %s\n", e)
		}
	}
	if final.State != core.TaskCompleted {
		msg := fmt.Sprintf("import %s into %s ended %s", final.ID, d.Name, final.State)
		if len(final.Errors) > 0 {
			msg += ": " + final.Errors[0]
		}
		return errors.New(msg)
	}
	return nil
}

func newDatasetCreateCommand() *cobra.Command {
	var dataType, source, work, desc, schema string
	var datasetType int
	var labels []string
	var header, wait bool
	var af annotationFlags
	cmd := &cobra.Command{
		Use:   "create NAME (--data-type T | --dataset-type N) --source obs://b/dir/ --work-path obs://b/work/ [flags]",
		Short: "Create a dataset and import its source directory",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			spec := core.DatasetSpec{Name: args[0], Description: desc, WithColumnHeader: header, AnnotationConfig: af.config()}
			fl := cmd.Flags()
			if dataType == "" && !fl.Changed("dataset-type") {
				return usagef("say what the dataset holds: --data-type (%s) or --dataset-type (0, 1, 3, 100, …)", strings.Join(dataTypeNames, ", "))
			}
			if dataType != "" {
				spec.DataType = strings.ToUpper(dataType)
				if !slices.Contains(dataTypeNames, spec.DataType) {
					return usagef("--data-type must be one of %s, not %q", strings.Join(dataTypeNames, ", "), dataType)
				}
			}
			if fl.Changed("dataset-type") {
				if _, ok := core.DatasetTypeData[datasetType]; !ok {
					return usagef("--dataset-type %d is not a dataset type (0, 1, 3, 100, 101, 102, 200, 201, 202, 400, 600, 900)", datasetType)
				}
				spec.DatasetType = &datasetType
			}
			if source == "" || work == "" {
				return usagef("--source and --work-path are required")
			}
			var err error
			if spec.DataPath, err = obsDirArg("--source", source); err != nil {
				return err
			}
			if spec.WorkPath, err = obsDirArg("--work-path", work); err != nil {
				return err
			}
			for _, raw := range labels {
				l, err := parseLabel(raw)
				if err != nil {
					return err
				}
				spec.Labels = append(spec.Labels, l)
			}
			if schema != "" {
				if spec.Schema, err = parseSchema(schema); err != nil {
					return err
				}
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			d, task, err := c.CreateDataset(ctxOf(cmd), spec)
			if err != nil {
				return err
			}
			if wait && task != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "Created dataset %s (%s); importing %s\n", d.Name, d.ID, task.Path)
				return waitImport(cmd, c, d, task)
			}
			if task == nil {
				return report(cmd, map[string]any{"dataset": d, "import_task": nil}, "Created dataset %s (%s)", d.Name, d.ID)
			}
			return report(cmd, map[string]any{"dataset": d, "import_task": task},
				"Created dataset %s (%s); import %s %s", d.Name, d.ID, task.ID, task.State)
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&dataType, "data-type", "", "the data type: "+strings.Join(dataTypeNames, ", "))
	fl.IntVar(&datasetType, "dataset-type", -1, "the labelling task: 0 image classification, 1 object detection, 3 segmentation, 100 text classification, 101 named entity, 102 text triplet, 200 sound classification, 201 speech content, 202 speech paragraph, 400 table, 600 video, 900 free format")
	fl.StringVar(&source, "source", "", "the source directory obs://bucket/dir/")
	fl.StringVar(&work, "work-path", "", "where annotations and versions go: obs://bucket/dir/")
	fl.StringVar(&desc, "desc", "", "a description")
	fl.StringArrayVar(&labels, "label", nil, "a label name[:type] (type 0 plain, 101 entity), or name:102:FROM:TO for a relation (repeatable)")
	fl.StringVar(&schema, "schema", "", "the columns of a table dataset: name:TYPE,name:TYPE (STRING, INT, FLOAT, BOOLEAN, …)")
	fl.BoolVar(&header, "header", false, "the table files start with a header row")
	fl.BoolVarP(&wait, "wait", "w", false, "wait for the import of the source; exit 1 if it fails")
	af.add(cmd)
	return cmd
}

func newDatasetLsCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the tenant's datasets",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			ds, err := c.ListDatasets(ctxOf(cmd), name)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if ds == nil {
					ds = []*core.Dataset{}
				}
				return printJSON(cmd, map[string]any{"datasets": ds})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "ID\tNAME\tDATA TYPE\tDATASET TYPE\tSAMPLES\tANNOTATED\tCREATED")
			for _, d := range ds {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", d.ID, d.Name, d.DataType, datasetTypeCell(d.DatasetType),
					d.SampleCount, d.AnnotatedCount, timeCell(d.CreatedAt))
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "only the dataset of this name")
	return cmd
}

// labelCell renders a label for show: name, its type unless plain, and a
// relation's ends.
func labelCell(l core.Label) string {
	switch l.Type {
	case core.LabelPlain:
		return l.Name
	case core.LabelRelation:
		return fmt.Sprintf("%s (relation %s → %s)", l.Name, l.Property["@modelarts:from_type"], l.Property["@modelarts:to_type"])
	case core.LabelEntity:
		return l.Name + " (entity)"
	}
	return fmt.Sprintf("%s (type %d)", l.Name, l.Type)
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func newDatasetShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show DATASET",
		Short: "Describe a dataset (by id or name): its paths, counts and labels",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			d, err := resolveDataset(cmd, c, args[0])
			if err != nil {
				return err
			}
			st, err := c.DatasetStats(ctxOf(cmd), d.ID)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				return printJSON(cmd, map[string]any{"dataset": d, "stats": st})
			}
			pairs := []any{"Dataset", d.ID, "Name", d.Name, "Description", orDash(d.Description),
				"Data type", d.DataType, "Dataset type", datasetTypeCell(d.DatasetType),
				"Source", d.DataPath, "Work path", d.WorkPath,
				"Samples", st.Total, "Annotated", st.Annotated}
			if len(d.Schema) > 0 {
				cols := make([]string, 0, len(d.Schema))
				for _, col := range d.Schema {
					cols = append(cols, col.Name+":"+col.Type)
				}
				pairs = append(pairs, "Schema", strings.Join(cols, ", "))
			}
			pairs = append(pairs, "Created", timeCell(d.CreatedAt), "Updated", timeCell(d.UpdatedAt))
			if err := printFields(cmd, pairs...); err != nil {
				return err
			}
			if len(st.ByUsage) > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
				tw := table(cmd)
				fmt.Fprintln(tw, "USAGE\tSAMPLES")
				for _, u := range sortedKeys(st.ByUsage) {
					fmt.Fprintf(tw, "%s\t%d\n", u, st.ByUsage[u])
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.OutOrStdout())
			tw := table(cmd)
			fmt.Fprintln(tw, "LABEL\tSAMPLES")
			seen := map[string]bool{}
			for _, l := range d.Labels {
				seen[l.Name] = true
				fmt.Fprintf(tw, "%s\t%d\n", labelCell(l), st.ByLabel[l.Name])
			}
			for _, name := range sortedKeys(st.ByLabel) {
				if !seen[name] { // in annotations but no longer a label
					fmt.Fprintf(tw, "%s\t%d\n", name, st.ByLabel[name])
				}
			}
			return tw.Flush()
		}),
	}
}

func newDatasetImportCommand() *cobra.Command {
	var header, wait bool
	var af annotationFlags
	cmd := &cobra.Command{
		Use:   "import DATASET obs://b/dir/|obs://b/x.manifest [--format F] [--header] [-w]",
		Short: "Import more data (a directory or a manifest) into a dataset",
		Args:  exactArgs(2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			p, err := obsPathArg("the import path", args[1])
			if err != nil {
				return err
			}
			req := core.ImportRequest{Path: p, AnnotationConfig: af.config()}
			if cmd.Flags().Changed("header") {
				req.WithColumnHeader = &header
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			d, err := resolveDataset(cmd, c, args[0])
			if err != nil {
				return err
			}
			task, err := c.ImportData(ctxOf(cmd), d.ID, req)
			if err != nil {
				return err
			}
			if wait {
				return waitImport(cmd, c, d, task)
			}
			return report(cmd, task, "Importing %s into %s: task %s %s", task.Path, d.Name, task.ID, task.State)
		}),
	}
	cmd.Flags().BoolVar(&header, "header", false, "the table files start with a header row (default: the dataset's setting)")
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "wait for the import, with progress on a terminal; exit 1 if it fails")
	af.add(cmd)
	return cmd
}

// annotationNames returns the names of a sample's annotations, or its
// labels when the annotations carry none.
func annotationNames(s *core.Sample) string {
	if len(s.Labels) > 0 {
		return strings.Join(s.Labels, ",")
	}
	var names []string
	for _, a := range s.Annotations {
		if a.Name != "" && !slices.Contains(names, a.Name) {
			names = append(names, a.Name)
		}
	}
	return orDash(strings.Join(names, ","))
}

// usageArg checks and upper-cases a --usage value.
func usageArg(s string) (string, error) {
	u := strings.ToUpper(s)
	switch u {
	case "", core.UsageTrain, core.UsageEval, core.UsageTest, core.UsageInference:
		return u, nil
	}
	return "", usagef("--usage must be TRAIN, EVAL, TEST or INFERENCE, not %q", s)
}

func newDatasetSamplesCommand() *cobra.Command {
	var labelled, unlabelled, all bool
	var f core.SampleFilter
	cmd := &cobra.Command{
		Use:   "samples DATASET [--labelled|--unlabelled] [--label L] [--usage U] [--limit N] [--all]",
		Short: "List a dataset's samples in id order",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if labelled && unlabelled {
				return usagef("--labelled and --unlabelled exclude each other")
			}
			if labelled || unlabelled {
				f.Labelled = &labelled
			}
			if f.Limit < 1 || f.Limit > 1000 {
				return usagef("--limit must be 1 to 1000, not %d", f.Limit)
			}
			var err error
			if f.Usage, err = usageArg(f.Usage); err != nil {
				return err
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			d, err := resolveDataset(cmd, c, args[0])
			if err != nil {
				return err
			}
			var page core.SamplePage
			if all {
				err = c.WalkSamples(ctxOf(cmd), d.ID, f, func(s *core.Sample) error {
					page.Samples = append(page.Samples, s)
					return nil
				})
			} else {
				var p *core.SamplePage
				if p, err = c.ListSamples(ctxOf(cmd), d.ID, f); err == nil {
					page = *p
				}
			}
			if err != nil {
				return err
			}
			if page.Samples == nil {
				page.Samples = []*core.Sample{}
			}
			if isJSON(cmd) {
				return printJSON(cmd, page)
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "ID\tUSAGE\tLABELS\tSOURCE")
			for _, s := range page.Samples {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, orDash(s.Usage), annotationNames(s), oneLine(s.Source))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if page.NextCursor != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "More samples: --cursor %s (or --all)\n", page.NextCursor)
			}
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.BoolVar(&labelled, "labelled", false, "only annotated samples")
	fl.BoolVar(&unlabelled, "unlabelled", false, "only samples without annotations")
	fl.StringVar(&f.Label, "label", "", "only samples with this label")
	fl.StringVar(&f.Usage, "usage", "", "only samples of this usage: TRAIN, EVAL, TEST, INFERENCE")
	fl.IntVar(&f.Limit, "limit", 100, "page size, 1 to 1000")
	fl.StringVar(&f.After, "cursor", "", "start after this cursor of an earlier page")
	fl.BoolVar(&all, "all", false, "list every page, not only the first")
	return cmd
}

// classificationTypes are the annotation types of the classification
// dataset types that `dataset label` annotates.
var classificationTypes = map[int]string{
	core.DatasetImageClassification: "modelarts/image_classification",
	core.DatasetTextClassification:  "modelarts/text_classification",
	core.DatasetSoundClassification: "modelarts/audio_classification",
}

func newDatasetLabelCommand() *cobra.Command {
	var labels []string
	var usage string
	cmd := &cobra.Command{
		Use:   "label DATASET SAMPLE --label NAME [--label NAME…] [--usage TRAIN]",
		Short: "Set the classification labels of a sample (replacing its annotations)",
		Args:  exactArgs(2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if len(labels) == 0 {
				return usagef("give at least one --label")
			}
			for _, l := range labels {
				if l == "" {
					return usagef("--label must not be empty")
				}
			}
			u, err := usageArg(usage)
			if err != nil {
				return err
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			d, err := resolveDataset(cmd, c, args[0])
			if err != nil {
				return err
			}
			typ, ok := classificationTypes[d.DatasetType]
			if !ok {
				return fmt.Errorf("dataset %s (type %s) is not a classification dataset; set its annotations through the API", d.Name, datasetTypeCell(d.DatasetType))
			}
			anns := make([]core.Annotation, 0, len(labels))
			for _, l := range labels {
				anns = append(anns, core.Annotation{Type: typ, Name: l, AnnotatedBy: "human"})
			}
			s, err := c.SetAnnotations(ctxOf(cmd), d.ID, args[1], anns, u)
			if err != nil {
				return err
			}
			return report(cmd, s, "Sample %s: %s (%s)", s.ID, annotationNames(s), orDash(s.Usage))
		}),
	}
	cmd.Flags().StringArrayVar(&labels, "label", nil, "a label name (repeatable)")
	cmd.Flags().StringVar(&usage, "usage", "", "also set the usage: TRAIN, EVAL, TEST or INFERENCE")
	return cmd
}

// printDatasetVersions prints versions as a table.
func printDatasetVersions(cmd *cobra.Command, vs []*core.DatasetVersion) error {
	tw := table(cmd)
	fmt.Fprintln(tw, "VERSION\tID\tSTATUS\tSAMPLES\tRATIO\tCREATED\tMANIFEST")
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%g\t%s\t%s\n", v.Name, v.ID, v.State, v.SampleCount, v.TrainEvalRatio, timeCell(v.CreatedAt), v.ManifestPath)
	}
	return tw.Flush()
}

func newDatasetVersionCommand() *cobra.Command {
	var desc string
	var ratio float64
	var wait bool
	cmd := &cobra.Command{
		Use:   "version DATASET create [--desc D] [--ratio 0.8] [-w] | version DATASET ls",
		Short: "Publish a version of a dataset (a manifest of its samples), or list them",
		Args:  rangeArgs(1, 2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			action := "ls"
			if len(args) == 2 {
				action = args[1]
			}
			switch action {
			case "create":
				if ratio < 0 || ratio > 1 {
					return usagef("--ratio must be 0 to 1, not %g", ratio)
				}
			case "ls", "list":
				if cmd.Flags().Changed("desc") || cmd.Flags().Changed("ratio") || wait {
					return usagef("--desc, --ratio and --wait are for 'version DATASET create'")
				}
			default:
				return usagef("%s DATASET takes create or ls, not %q", cmd.CommandPath(), action)
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			d, err := resolveDataset(cmd, c, args[0])
			if err != nil {
				return err
			}
			if action == "create" {
				v, err := c.CreateDatasetVersion(ctxOf(cmd), d.ID, core.VersionSpec{Description: desc, TrainEvalRatio: ratio})
				if err != nil {
					return err
				}
				if wait {
					if v, err = waitVersion(cmd, c, v); err != nil {
						return err
					}
				}
				if err := report(cmd, v, "Created version %s (%s) of %s: %d samples, %s, manifest %s", v.Name, v.ID, d.Name, v.SampleCount, v.State, v.ManifestPath); err != nil {
					return err
				}
				if v.State == versionFailed {
					return fmt.Errorf("version %s of %s failed", v.Name, d.Name)
				}
				return nil
			}
			vs, err := c.ListDatasetVersions(ctxOf(cmd), d.ID)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if vs == nil {
					vs = []*core.DatasetVersion{}
				}
				return printJSON(cmd, map[string]any{"versions": vs})
			}
			return printDatasetVersions(cmd, vs)
		}),
	}
	cmd.Flags().StringVar(&desc, "desc", "", "a description of the version")
	cmd.Flags().Float64Var(&ratio, "ratio", 0, "the share of samples marked TRAIN, the rest EVAL (0: keep each sample's usage)")
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "wait until the manifest is published; exit 1 if it fails")
	return cmd
}

// Dataset version states, as the service reports them.
const (
	versionCreating = "CREATING"
	versionFailed   = "FAILED"
)

// waitVersion polls a version until its manifest is published (or it
// failed).
func waitVersion(cmd *cobra.Command, c *sdk.Client, v *core.DatasetVersion) (*core.DatasetVersion, error) {
	ctx := ctxOf(cmd)
	for v.State == versionCreating {
		t := time.NewTimer(datasetPollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		nv, err := c.GetDatasetVersion(ctx, v.DatasetID, v.ID)
		if err != nil {
			return nil, err
		}
		v = nv
	}
	return v, nil
}

// findVersion finds a dataset version by id or name (V001).
func findVersion(cmd *cobra.Command, c *sdk.Client, d *core.Dataset, ref string) (*core.DatasetVersion, error) {
	vs, err := c.ListDatasetVersions(ctxOf(cmd), d.ID)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if v.ID == ref || strings.EqualFold(v.Name, ref) {
			return v, nil
		}
	}
	return nil, &sdk.APIError{Err: core.CodeDatasetNotFound.Errorf("Dataset %s has no version %s.", d.Name, ref)}
}

func newDatasetExportCommand() *cobra.Command {
	var ver, to string
	var wait bool
	cmd := &cobra.Command{
		Use:   "export DATASET --version V001|ID --to obs://b/dir/ [-w]",
		Short: "Export a version's manifest to an OBS directory",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if ver == "" || to == "" {
				return usagef("--version and --to are required")
			}
			dst, err := obsDirArg("--to", to)
			if err != nil {
				return err
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			d, err := resolveDataset(cmd, c, args[0])
			if err != nil {
				return err
			}
			v, err := findVersion(cmd, c, d, ver)
			if err != nil {
				return err
			}
			task, err := c.ExportDatasetVersion(ctxOf(cmd), d.ID, v.ID, dst)
			if err != nil {
				return err
			}
			if wait {
				if task, err = waitExport(cmd, c, d, task); err != nil {
					return err
				}
			}
			if err := report(cmd, task, "Export %s of %s %s to %s: %s, %d samples", task.ID, d.Name, v.Name, task.Path, task.State, task.Exported); err != nil {
				return err
			}
			if task.State == core.TaskFailed {
				return fmt.Errorf("export %s failed: %s", task.ID, cmp.Or(task.Error, "no reason given"))
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&ver, "version", "", "the version: its name (V001) or id")
	cmd.Flags().StringVar(&to, "to", "", "the destination directory obs://bucket/dir/")
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "wait until the export has ended; exit 1 if it fails")
	return cmd
}

// waitExport polls the dataset's export tasks until task has ended.
func waitExport(cmd *cobra.Command, c *sdk.Client, d *core.Dataset, task *core.ExportTask) (*core.ExportTask, error) {
	ctx := ctxOf(cmd)
	for !sdk.ImportDone(task.State) {
		t := time.NewTimer(datasetPollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		ts, err := c.ListExportTasks(ctx, d.ID)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(ts, func(t *core.ExportTask) bool { return t.ID == task.ID })
		if i < 0 {
			return nil, fmt.Errorf("export %s of dataset %s is gone", task.ID, d.Name)
		}
		task = ts[i]
	}
	return task, nil
}

func newDatasetRmCommand() *cobra.Command {
	var deleteSource bool
	cmd := &cobra.Command{
		Use:   "rm DATASET [--delete-source]",
		Short: "Delete a dataset with its samples, versions and tasks",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			d, err := resolveDataset(cmd, c, args[0])
			if err != nil {
				return err
			}
			if err := c.DeleteDataset(ctxOf(cmd), d.ID, deleteSource); err != nil {
				return err
			}
			what := ""
			if deleteSource {
				what = " and its source objects"
			}
			return report(cmd, map[string]any{"dataset_id": d.ID, "deleted": true}, "Deleted dataset %s (%s)%s", d.Name, d.ID, what)
		}),
	}
	cmd.Flags().BoolVar(&deleteSource, "delete-source", false, "also delete the source objects under the dataset's data path")
	return cmd
}
