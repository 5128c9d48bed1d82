package main

import (
	"context"
	"strings"
	"time"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/spf13/cobra"
)

// completionTimeout bounds the server calls of one completion, so that a
// slow or unreachable server never hangs the shell.
const completionTimeout = 3 * time.Second

// completionLimit bounds the candidates one completion asks the server for.
const completionLimit = 200

// addCompletions wires the dynamic completions into the command tree:
// cobra's `atelier completion bash|zsh|fish|powershell` prints the shell
// scripts, which call the hidden `atelier __complete`. The values of -o and
// --profile, obs:// paths (bucket names, then the prefixes and objects
// under them) and job ids are completed.
func addCompletions(root *cobra.Command) {
	_ = root.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{outputTable + "\tone row a line", outputJSON + "\tthe API's JSON"}, cobra.ShellCompDirectiveNoFileComp
	})
	_ = root.RegisterFlagCompletionFunc("profile", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return completeProfiles(cmd, nil, toComplete)
	})
	set := func(fn cobra.CompletionFunc, path ...string) {
		if c, _, err := root.Find(path); err == nil && c.Name() == path[len(path)-1] && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = fn
		}
	}
	set(completeObsArgs(1, false, false), "obs", "ls")
	set(completeObsArgs(1, false, false), "obs", "stat")
	set(completeObsArgs(1, false, false), "obs", "rm")
	set(completeObsArgs(1, true, false), "obs", "rb")
	set(completeObsArgs(2, false, true), "obs", "cp")
	for _, verb := range []string{"show", "versions", "events", "logs", "stop", "rm", "rerun"} {
		set(completeJobs, "job", verb)
	}
}

// completionClient returns a client for a completion, or nil when there is
// none to be had (not logged in, no server): completions never print errors.
func completionClient(cmd *cobra.Command) (*sdk.Client, context.Context, context.CancelFunc) {
	if cfg, err := clientConfig(cmd); err != nil || !cfg.HasCredentials() {
		return nil, nil, nil
	}
	c, err := newClient(cmd)
	if err != nil {
		return nil, nil, nil
	}
	ctx, cancel := context.WithTimeout(ctxOf(cmd), completionTimeout)
	return c, ctx, cancel
}

// completeObsArgs completes up to n arguments that are obs:// paths:
// buckets, and with bucketsOnly unset the directories and objects under a
// typed bucket or prefix. With local set an argument may also be a local
// path, completed by the shell's file completion until it starts like
// obs://.
func completeObsArgs(n int, bucketsOnly, local bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) >= n {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		lower := strings.ToLower(toComplete)
		isObs := strings.HasPrefix(lower, "obs://") || (toComplete != "" && strings.HasPrefix("obs://", lower))
		if local && !isObs {
			return nil, cobra.ShellCompDirectiveDefault
		}
		c, ctx, cancel := completionClient(cmd)
		if c == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer cancel()
		return obsCandidates(ctx, c, toComplete, bucketsOnly)
	}
}

// obsCandidates lists what may follow toComplete, an obs:// path being
// typed: buckets until a "/" follows the bucket's name, then one level of
// the prefixes and objects under what is typed.
func obsCandidates(ctx context.Context, c *sdk.Client, toComplete string, bucketsOnly bool) ([]string, cobra.ShellCompDirective) {
	scheme := "obs://"
	rest := toComplete
	if len(rest) >= len(scheme) {
		scheme, rest = rest[:len(scheme)], rest[len(scheme):]
	} else {
		rest = ""
	}
	bucket, key, typedKey := strings.Cut(rest, "/")
	if !typedKey {
		bs, err := c.ListBuckets(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []string
		for _, b := range bs {
			if strings.HasPrefix(b.Name, bucket) {
				if bucketsOnly {
					out = append(out, scheme+b.Name)
				} else {
					out = append(out, scheme+b.Name+"/")
				}
			}
		}
		if bucketsOnly {
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
	if bucketsOnly {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	l, err := c.ListObjects(ctx, bucket, core.ListQuery{Prefix: key, Delimiter: "/", MaxKeys: completionLimit})
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	out := make([]string, 0, len(l.CommonPrefixes)+len(l.Objects))
	for _, p := range l.CommonPrefixes {
		out = append(out, scheme+bucket+"/"+p)
	}
	for _, o := range l.Objects {
		out = append(out, scheme+bucket+"/"+o.Key)
	}
	directive := cobra.ShellCompDirectiveNoFileComp
	if len(l.CommonPrefixes) > 0 {
		directive |= cobra.ShellCompDirectiveNoSpace // a directory goes on
	}
	return out, directive
}

// completeJobs completes a job's id, described by its name and state.
func completeJobs(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, ctx, cancel := completionClient(cmd)
	if c == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer cancel()
	page, err := c.ListJobs(ctx, core.JobFilter{Limit: completionLimit})
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []string
	for _, j := range page.Jobs {
		if strings.HasPrefix(j.ID, toComplete) {
			out = append(out, j.ID+"\t"+j.Name+" ("+j.State+")")
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
