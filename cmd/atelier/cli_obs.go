package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/progress"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

func newObsCommand() *cobra.Command {
	cmd := groupCommand("obs", "Work with the object store: buckets and objects")
	cmd.AddCommand(newObsMbCommand(), newObsRbCommand(), newObsLsCommand(), newObsCpCommand(),
		newObsRmCommand(), newObsStatCommand())
	return cmd
}

// objectPathArg parses s, the object path given as name (a flag such as
// "--code-dir" or an argument such as "SRC"), by the grammar the server
// applies (atelier.ParseObjectPath), so that a bad path is found before
// anything is sent. Only obs:// and s3:// (in any case) are taken here:
// /bucket/key reads like a local path. Anything else is a usage error that
// names name and says what is wrong.
func objectPathArg(name, s string) (core.ObjectPath, error) {
	if !core.HasObjectScheme(s) {
		return core.ObjectPath{}, usagef("%s %q is not an object path like obs://bucket/key", name, s)
	}
	p, err := core.ParseObjectPath(s)
	if err != nil {
		return core.ObjectPath{}, usagef("%s %q: %s", name, s, core.ErrorMessage(err))
	}
	return p, nil
}

// objectDirArg is objectPathArg for a directory: the path must end in /
// (or name a bucket alone).
func objectDirArg(name, s string) (core.ObjectPath, error) {
	p, err := objectPathArg(name, s)
	if err == nil && !p.IsDir() {
		return core.ObjectPath{}, usagef("%s %q must end in / to name a directory, like %s/", name, s, p)
	}
	return p, err
}

// objectArg is objectPathArg split into bucket and key.
func objectArg(name, s string) (bucket, key string, err error) {
	p, err := objectPathArg(name, s)
	return p.Bucket, p.Key, err
}

// bucketArg parses an obs://bucket argument that must name no key.
func bucketArg(s string) (string, error) {
	b, k, err := objectArg("the argument", s)
	if err != nil {
		return "", err
	}
	if k != "" {
		return "", usagef("%q names an object; give only the bucket, like obs://%s", s, b)
	}
	return b, nil
}

func newObsMbCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "mb obs://BUCKET",
		Short: "Make a bucket",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			b, err := bucketArg(args[0])
			if err != nil {
				return err
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			bk, err := c.CreateBucket(ctxOf(cmd), b)
			if err != nil {
				return err
			}
			return report(cmd, bk, "Created bucket obs://%s", bk.Name)
		}),
	}
}

func newObsRbCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rb obs://BUCKET",
		Short: "Remove an empty bucket",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			b, err := bucketArg(args[0])
			if err != nil {
				return err
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteBucket(ctxOf(cmd), b); err != nil {
				return err
			}
			return report(cmd, map[string]string{"deleted": b}, "Removed bucket obs://%s", b)
		}),
	}
}

func newObsLsCommand() *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "ls [obs://BUCKET/PREFIX]",
		Short: "List buckets, or the objects under a prefix (one level unless -r)",
		Args:  rangeArgs(0, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			var bucket, prefix string
			if len(args) == 1 {
				var err error
				if bucket, prefix, err = objectArg("the argument", args[0]); err != nil {
					return err
				}
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			ctx := ctxOf(cmd)
			if bucket == "" {
				bs, err := c.ListBuckets(ctx)
				if err != nil {
					return err
				}
				if isJSON(cmd) {
					if bs == nil {
						bs = []*core.Bucket{}
					}
					return printJSON(cmd, map[string]any{"buckets": bs})
				}
				tw := table(cmd)
				for _, b := range bs {
					fmt.Fprintf(tw, "%s\tobs://%s\n", b.CreatedAt.UTC().Format(time.RFC3339), b.Name)
				}
				return tw.Flush()
			}
			q := core.ListQuery{Prefix: prefix}
			if !recursive {
				q.Delimiter = "/"
			}
			all := &core.ObjectList{Bucket: bucket, Prefix: prefix, Delimiter: q.Delimiter, Objects: []*core.Object{}, CommonPrefixes: []string{}}
			for {
				l, err := c.ListObjects(ctx, bucket, q)
				if err != nil {
					return err
				}
				all.Objects = append(all.Objects, l.Objects...)
				all.CommonPrefixes = append(all.CommonPrefixes, l.CommonPrefixes...)
				if !l.IsTruncated || l.NextContinuationToken == "" {
					break
				}
				q.ContinuationToken = l.NextContinuationToken
			}
			if isJSON(cmd) {
				return printJSON(cmd, all)
			}
			tw := table(cmd)
			for _, p := range all.CommonPrefixes {
				fmt.Fprintf(tw, "\tDIR\tobs://%s/%s\n", bucket, p)
			}
			for _, o := range all.Objects {
				fmt.Fprintf(tw, "%s\t%d\tobs://%s/%s\n", o.LastModified.UTC().Format(time.RFC3339), o.Size, bucket, o.Key)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "list every object below the prefix, not one level")
	return cmd
}

func newObsStatCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "stat obs://BUCKET/KEY",
		Short: "Show an object's metadata",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			b, k, err := objectArg("the argument", args[0])
			if err != nil {
				return err
			}
			if sdk.IsDir(k) {
				return usagef("%q names a directory, not an object", args[0])
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			o, err := c.StatObject(ctxOf(cmd), b, k)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				return printJSON(cmd, o)
			}
			tw := table(cmd)
			fmt.Fprintf(tw, "Path\tobs://%s/%s\nSize\t%d (%s)\nETag\t%s\nSHA-256\t%s\nContent-Type\t%s\nLast-Modified\t%s\n",
				o.Bucket, o.Key, o.Size, progress.FormatBytes(o.Size), o.ETag, o.SHA256, o.ContentType, o.LastModified.Format(time.RFC3339))
			return tw.Flush()
		}),
	}
}

func newObsRmCommand() *cobra.Command {
	var recursive bool
	var jobs int
	cmd := &cobra.Command{
		Use:   "rm obs://BUCKET/KEY",
		Short: "Remove an object, or with -r every object under a prefix",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			b, k, err := objectArg("the argument", args[0])
			if err != nil {
				return err
			}
			if jobs < 1 {
				return usagef("-j must be at least 1")
			}
			if !recursive && sdk.IsDir(k) {
				return usagef("%q names a directory; use -r to remove everything under it", args[0])
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			ctx := ctxOf(cmd)
			n := 0
			if !recursive {
				if err := c.DeleteObject(ctx, b, k); err != nil {
					return err
				}
				n = 1
			} else {
				var keys []string
				if err := c.WalkObjects(ctx, b, k, func(o *core.Object) error { keys = append(keys, o.Key); return nil }); err != nil {
					return err
				}
				g, gctx := errgroup.WithContext(ctx)
				g.SetLimit(jobs)
				for _, key := range keys {
					g.Go(func() error {
						err := c.DeleteObject(gctx, b, key)
						if core.ErrorCode(err) == core.CodeObjectNotFound.ID {
							return nil // removed meanwhile
						}
						return err
					})
				}
				if err := g.Wait(); err != nil {
					return err
				}
				n = len(keys)
			}
			return report(cmd, map[string]int{"deleted": n}, "Removed %d object(s)", n)
		}),
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "remove every object whose key starts with the prefix")
	cmd.Flags().IntVarP(&jobs, "jobs", "j", sdk.DefaultParallel, "objects removed in parallel")
	return cmd
}

func newObsCpCommand() *cobra.Command {
	var recursive bool
	var jobs int
	cmd := &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy files to, from or within the object store",
		Long: "Copy a local file or directory to the object store, an object or directory back, or objects\n" +
			"within the store (on the server). Object paths are obs://bucket/key or s3://bucket/key; a path\n" +
			"ending in / is a directory. Directories need -r and follow `cp -r src dst/`: the source\n" +
			"directory's own name is created inside the destination directory.",
		Args: exactArgs(2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if jobs < 1 {
				return usagef("-j must be at least 1")
			}
			return runCopy(cmd, args[0], args[1], recursive, jobs)
		}),
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "copy directories")
	cmd.Flags().IntVarP(&jobs, "jobs", "j", sdk.DefaultParallel, "files transferred in parallel")
	return cmd
}

// transferSummary is what `obs cp -o json` prints.
type transferSummary struct {
	Files   int     `json:"files"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

// runCopy dispatches a cp by the kinds of its two paths.
func runCopy(cmd *cobra.Command, src, dst string, recursive bool, jobs int) error {
	srcObs, dstObs := sdk.IsObjectPath(src), sdk.IsObjectPath(dst)
	if !srcObs && !dstObs {
		return usagef("one of SRC and DST must be an object path like obs://bucket/key")
	}
	var sb, sk, db, dk string
	var err error
	if srcObs {
		if sb, sk, err = objectArg("SRC", src); err != nil {
			return err
		}
	}
	if dstObs {
		if db, dk, err = objectArg("DST", dst); err != nil {
			return err
		}
	}
	var srcInfo fs.FileInfo
	if !srcObs {
		if srcInfo, err = os.Stat(src); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return usagef("%s: no such file or directory", src)
			}
			return usageError{err}
		}
		if srcInfo.IsDir() && !recursive {
			return usagef("%s is a directory; use -r to copy it", src)
		}
		if srcInfo.IsDir() && !sdk.IsDir(dk) {
			return usagef("the destination of a directory must end in /, like obs://%s/%s/", db, dk)
		}
	}
	if srcObs && !recursive && sdk.IsDir(sk) {
		return usagef("%s is a directory; use -r to copy it", src)
	}
	if srcObs && dstObs && recursive && !sdk.IsDir(dk) {
		return usagef("the destination of a directory must end in /, like obs://%s/%s/", db, dk)
	}

	c, err := newClient(cmd)
	if err != nil {
		return err
	}
	ctx := ctxOf(cmd)
	bar := progress.New(cmd.ErrOrStderr(), progress.Options{})
	if isJSON(cmd) {
		bar = progress.New(discard{}, progress.Options{})
	}
	opts := sdk.TransferOptions{
		Parallel: jobs,
		Planned:  bar.SetTotal,
		Progress: bar.Add,
		FileDone: func(path string, _ int64) {
			bar.SetName(path) // the file last finished
			bar.FileDone()
		},
	}
	bar.SetName(src)
	start := time.Now()
	sum := &sdk.TransferSummary{}
	one := func(size int64, fn func() (*core.Object, error)) error {
		bar.SetTotal(1, size)
		o, err := fn()
		if err != nil {
			return err
		}
		bar.FileDone()
		sum.Files, sum.Bytes = 1, o.Size
		return nil
	}
	switch {
	case !srcObs && srcInfo.IsDir():
		sum, err = c.UploadDir(ctx, src, db, dk, opts)
	case !srcObs:
		err = one(srcInfo.Size(), func() (*core.Object, error) { return c.UploadFile(ctx, src, db, dk, bar.Add) })
	case !dstObs && recursive:
		sum, err = c.DownloadDir(ctx, sb, sk, dst, opts)
	case !dstObs:
		err = one(-1, func() (*core.Object, error) { return c.DownloadFile(ctx, sb, sk, dst, bar.Add) })
	case recursive:
		sum, err = c.CopyDir(ctx, db, dk, sb, sk, opts)
	default:
		if sdk.IsDir(dk) {
			dk += sdk.BaseName(sk)
		}
		err = one(-1, func() (*core.Object, error) { return c.CopyObject(ctx, db, dk, sb, sk) })
	}
	bar.Finish()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	return report(cmd, transferSummary{Files: sum.Files, Bytes: sum.Bytes, Seconds: elapsed.Seconds()}, "Copied %d file(s), %s in %s", sum.Files, progress.FormatBytes(sum.Bytes), elapsed.Round(time.Millisecond))
}

// discard is a writer that is never a terminal.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
