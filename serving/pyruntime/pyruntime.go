// Package pyruntime holds Atelier's Python serving runtime: serve.py, which
// serves a ModelArts-style model package (config.json and
// customize_service.py) over HTTP with the Python standard library, and the
// model_service package and log module that ModelArts inference code imports.
//
// The files are embedded in the binary; WriteTo stages them in an instance's
// work directory, after which the instance runs
//
//	python3 <dir>/serve.py --model-dir <model dir>
//
// with PORT and PYTHONPATH=<dir>:<model dir> (see serve.py's doc for the
// routes and the environment).
package pyruntime

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Entry is the script to run, relative to the directory WriteTo wrote.
const Entry = "serve.py"

//go:embed serve.py log.py model_service/*.py
var files embed.FS

// WriteTo writes the runtime's files under dir (files 0644, directories
// 0755), creating dir if needed and replacing files of the same names.
func WriteTo(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pyruntime: create %s: %w", dir, err)
	}
	return fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return fmt.Errorf("pyruntime: create %s: %w", dst, err)
			}
			return nil
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return fmt.Errorf("pyruntime: read embedded %s: %w", p, err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return fmt.Errorf("pyruntime: write %s: %w", dst, err)
		}
		// WriteFile keeps the mode of a file that existed.
		if err := os.Chmod(dst, 0o644); err != nil {
			return fmt.Errorf("pyruntime: chmod %s: %w", dst, err)
		}
		return nil
	})
}

// Files lists the runtime's files, slash-separated and relative to the
// directory WriteTo writes.
func Files() []string {
	var out []string
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}
