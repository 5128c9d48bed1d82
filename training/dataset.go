package training

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/dataset/format"
	"github.com/atelier-dev/atelier/workload"
)

// versionPublished is the state of a dataset version whose manifest is
// written (dataset.VersionNormal; the root package names no constant).
const versionPublished = "NORMAL"

// datasetManifest returns the manifest of the dataset version an input
// names, after checking that the caller's tenant has it and that it is
// published.
func (s *Service) datasetManifest(ctx context.Context, in atelier.JobInput, field string) (obsPath, error) {
	v, err := s.opts.Datasets.GetVersion(ctx, in.DatasetID, in.DatasetVersionID)
	if err != nil {
		if atelier.ErrorKind(err) == atelier.NotFound {
			return obsPath{}, missing(field+".dataset_version_id", "%s: the dataset version %s of dataset %s does not exist.", field, in.DatasetVersionID, in.DatasetID)
		}
		return obsPath{}, err
	}
	if v.State != versionPublished {
		return obsPath{}, invalid(field+".dataset_version_id", "%s: the dataset version %s is %s, not published yet.", field, v.Name, v.State)
	}
	mp, err := atelier.ParseObjectPath(v.ManifestPath)
	if err != nil || mp.IsDir() {
		return obsPath{}, fmt.Errorf("training: dataset version %s has no manifest path (%q)", v.ID, v.ManifestPath)
	}
	return mp, nil
}

// stageDataset materialises a dataset version as an input directory: the
// version's manifest as it is published (<dir>/<V00n>.manifest), every
// sample object under <dir>/data/<bucket>/<key>, and <dir>/local.manifest,
// the same lines with each source replaced by the absolute path of its
// local copy, so that a script can read either. Samples that are lines of
// text or table files ("#L<n>") point at their file's local copy. It
// streams: the manifest is never held in memory.
func (s *Service) stageDataset(ctx context.Context, in atelier.JobInput, dir, field string) error {
	mp, err := s.datasetManifest(ctx, in, field)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o750); err != nil {
		return err
	}
	published := filepath.Join(dir, path.Base(mp.Key))
	if err := workload.Download(ctx, s.objects, mp, published); err != nil {
		return fmt.Errorf("download the manifest: %w", err)
	}
	f, err := os.Open(published)
	if err != nil {
		return err
	}
	defer f.Close()
	out, err := os.Create(filepath.Join(dir, "local.manifest"))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	fetched := map[string]bool{} // objects of several "#L" samples come once
	r := format.NewManifestReader(f)
	for {
		sm, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			out.Close()
			return fmt.Errorf("read the manifest: %w", err)
		}
		local := sm.Source
		if _, ok := format.ContentText(sm.Source); !ok {
			src, frag, _ := strings.Cut(sm.Source, "#")
			bucket, key, err := format.ParseSource(src)
			if err != nil {
				out.Close()
				return fmt.Errorf("manifest line %d: %w", r.Line(), err)
			}
			dst := filepath.Join(dir, "data", bucket, filepath.FromSlash(key))
			if !strings.HasPrefix(dst, filepath.Join(dir, "data")+string(filepath.Separator)) {
				out.Close()
				return fmt.Errorf("manifest line %d: source %q leaves the input directory", r.Line(), sm.Source)
			}
			if !fetched[dst] {
				if err := workload.Download(ctx, s.objects, obsPath{Bucket: bucket, Key: key}, dst); err != nil {
					out.Close()
					return fmt.Errorf("download %s: %w", src, err)
				}
				fetched[dst] = true
			}
			local = dst
			if frag != "" {
				local += "#" + frag
			}
		}
		line, err := json.Marshal(struct {
			Source     string               `json:"source"`
			Usage      string               `json:"usage,omitempty"`
			ID         string               `json:"id,omitempty"`
			Annotation []atelier.Annotation `json:"annotation,omitempty"`
		}{local, sm.Usage, sm.ID, sm.Annotations})
		if err != nil {
			out.Close()
			return err
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			out.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
