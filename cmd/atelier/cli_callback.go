package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/spf13/cobra"
)

// This file holds `atelier app callback …`: an app's event callback, its
// keys' rotation, its deliveries and their redelivery (CONTRACT §5). The
// signing and encryption keys go to the server and are never printed.

// maxKeyFile bounds how much of a key file is read; keys are at most 64
// characters.
const maxKeyFile = 4 << 10

func newAppCallbackCommand() *cobra.Command {
	cmd := groupCommand("callback", "Manage an app's event callback and see its deliveries")
	cmd.AddCommand(newCallbackSetCommand(), newCallbackGetCommand(), newCallbackDeleteCommand(), newCallbackRotateCommand(),
		newCallbackDeliveriesCommand(), newCallbackDeliveryCommand(), newCallbackRedeliverCommand(), newCallbackEventTypesCommand())
	return cmd
}

// keyFlags are a secret given either as --NAME VALUE or --NAME-file PATH.
type keyFlags struct {
	name        string // flag name, e.g. "signing-key"
	value, file string
}

func (k *keyFlags) add(cmd *cobra.Command, usage string) {
	f := cmd.Flags()
	f.StringVar(&k.value, k.name, "", usage+" (visible to other local users; prefer --"+k.name+"-file)")
	f.StringVar(&k.file, k.name+"-file", "", "read the "+strings.ReplaceAll(k.name, "-", " ")+" from this file (- for standard input)")
}

// get returns the key, or nil when neither flag was given. A key read from
// a file loses one trailing newline.
func (k *keyFlags) get(cmd *cobra.Command) (*string, error) {
	f := cmd.Flags()
	byValue, byFile := f.Changed(k.name), f.Changed(k.name+"-file")
	switch {
	case byValue && byFile:
		return nil, usagef("give --%s or --%s-file, not both", k.name, k.name)
	case byValue:
		return &k.value, nil
	case !byFile:
		return nil, nil
	}
	var r io.Reader
	if k.file == "-" {
		r = cmd.InOrStdin()
	} else {
		fh, err := os.Open(k.file)
		if err != nil {
			return nil, usagef("--%s-file: %v", k.name, err)
		}
		defer fh.Close()
		r = fh
	}
	b, err := io.ReadAll(io.LimitReader(r, maxKeyFile))
	if err != nil {
		return nil, usagef("--%s-file: %v", k.name, err)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if s == "" {
		return nil, usagef("--%s-file: %s is empty", k.name, k.file)
	}
	return &s, nil
}

// printSubscription prints a subscription; a security token Atelier
// generated is printed once, with a note on standard error.
func printSubscription(cmd *cobra.Command, r *core.SubscriptionResult) error {
	if isJSON(cmd) {
		return printJSON(cmd, r)
	}
	s := r.Subscription
	rotation := "-"
	if !s.NextAt.IsZero() {
		rotation = "staged, takes over at " + timeCell(s.NextAt)
	}
	pairs := []any{"Client ID", s.ClientID, "Tenant", s.TenantID, "URL", s.URL,
		"Event types", orDash(strings.Join(s.EventTypes, ",")), "Ordered", s.Ordered, "Enabled", s.Enabled,
		"Encrypted", s.Encrypted, "Key rotation", rotation, "Created", timeCell(s.CreatedAt), "Updated", timeCell(s.UpdatedAt)}
	if r.SecurityToken != "" {
		pairs = append(pairs, "Security token", r.SecurityToken)
	}
	if err := printFields(cmd, pairs...); err != nil {
		return err
	}
	if r.SecurityToken != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "The security token is shown only now; configure your receiver with it and store it safely.")
	}
	return nil
}

func newCallbackSetCommand() *cobra.Command {
	var (
		u, token         string
		types            []string
		noEncryption     bool
		ordered, enabled bool
		signing, encrypt = keyFlags{name: "signing-key"}, keyFlags{name: "encryption-key"}
	)
	cmd := &cobra.Command{
		Use:   "set CLIENT_ID",
		Short: "Create or change an app's callback; unset flags keep their value",
		Long: "Create or change an app's callback. The first set needs --url and a signing key; later ones change only\n" +
			"what their flags give. A new URL or new keys are proved first: Atelier sends CHECK_URL and saves nothing\n" +
			"unless the receiver answers with the challenge. Without --security-token Atelier generates a token on the\n" +
			"first set and prints it once. Keys are never printed.",
		Args: exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			f := cmd.Flags()
			var spec core.SubscriptionSpec
			changed := false
			sk, err := signing.get(cmd)
			if err != nil {
				return err
			}
			ek, err := encrypt.get(cmd)
			if err != nil {
				return err
			}
			if noEncryption {
				if ek != nil {
					return usagef("--no-encryption goes with neither --encryption-key nor --encryption-key-file")
				}
				off := ""
				ek = &off
			}
			spec.SigningKey, spec.EncryptionKey = sk, ek
			changed = sk != nil || ek != nil
			if f.Changed("url") {
				spec.URL, changed = &u, true
			}
			if f.Changed("event-types") {
				spec.EventTypes, changed = &types, true
			}
			if f.Changed("security-token") {
				spec.SecurityToken, changed = &token, true
			}
			if f.Changed("ordered") {
				spec.Ordered, changed = &ordered, true
			}
			if f.Changed("enabled") {
				spec.Enabled, changed = &enabled, true
			}
			if !changed {
				return usagef("give at least one setting; see '%s --help'", cmd.CommandPath())
			}
			r, err := c.SetCallback(ctxOf(cmd), args[0], spec)
			if err != nil {
				return err
			}
			return printSubscription(cmd, r)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&u, "url", "", "the receiver's http(s) URL")
	f.StringSliceVar(&types, "event-types", nil, "event types to deliver, comma-separated (default: all; see 'atelier app callback event-types')")
	signing.add(cmd, "signing key, 16-64 printable ASCII characters")
	encrypt.add(cmd, "encryption key, 16, 24 or 32 printable ASCII characters")
	f.BoolVar(&noEncryption, "no-encryption", false, "send event data unencrypted (drops the encryption key)")
	f.StringVar(&token, "security-token", "", "token sent as Authorization: Bearer, 16-128 characters (\"\": let Atelier generate one)")
	f.BoolVar(&ordered, "ordered", false, "deliver one subject's events one at a time, in commit order (--ordered=false: in parallel)")
	f.BoolVar(&enabled, "enabled", false, "deliver events; --enabled=false pauses deliveries (events keep being queued)")
	return cmd
}

func newCallbackGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get CLIENT_ID",
		Short: "Describe an app's callback (never its keys)",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			s, err := c.GetCallback(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			return printSubscription(cmd, &core.SubscriptionResult{Subscription: s})
		}),
	}
}

func newCallbackDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rm CLIENT_ID",
		Short: "Remove an app's callback and its queued deliveries",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if err := c.DeleteCallback(ctxOf(cmd), args[0]); err != nil {
				return err
			}
			return report(cmd, map[string]string{"deleted": args[0]}, "Deleted the callback of app %s", args[0])
		}),
	}
}

func newCallbackRotateCommand() *cobra.Command {
	var (
		newToken         bool
		token            string
		overlap          time.Duration
		signing, encrypt = keyFlags{name: "signing-key"}, keyFlags{name: "encryption-key"}
	)
	cmd := &cobra.Command{
		Use:   "rotate CLIENT_ID",
		Short: "Stage new keys or a new security token; Atelier switches after the overlap",
		Long: "Stage a new signing key, encryption key or security token. Atelier keeps using the current ones for\n" +
			"--overlap (default 24h; 0s switches now), so configure the receiver to accept both first. A token made\n" +
			"with --new-security-token is printed once. Keys are never printed.",
		Args: exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			var spec core.RotateSpec
			sk, err := signing.get(cmd)
			if err != nil {
				return err
			}
			ek, err := encrypt.get(cmd)
			if err != nil {
				return err
			}
			if sk != nil {
				spec.SigningKey = *sk
			}
			if ek != nil {
				spec.EncryptionKey = *ek
			}
			switch {
			case newToken && cmd.Flags().Changed("security-token"):
				return usagef("give --new-security-token or --security-token, not both")
			case newToken:
				spec.SecurityToken = "generate"
			case cmd.Flags().Changed("security-token"):
				if token == "" || token == "generate" {
					return usagef("--security-token needs a token; use --new-security-token to have one generated")
				}
				spec.SecurityToken = token
			}
			if spec == (core.RotateSpec{}) {
				return usagef("give a new key or token to rotate; see '%s --help'", cmd.CommandPath())
			}
			if cmd.Flags().Changed("overlap") {
				if overlap < 0 || overlap%time.Second != 0 {
					return usagef("--overlap must be a whole number of seconds, 0s or more, like 24h or 90m")
				}
				secs := int64(overlap / time.Second)
				spec.OverlapSeconds = &secs
			}
			r, err := c.RotateCallbackKeys(ctxOf(cmd), args[0], spec)
			if err != nil {
				return err
			}
			return printSubscription(cmd, r)
		}),
	}
	signing.add(cmd, "new signing key")
	encrypt.add(cmd, "new encryption key")
	f := cmd.Flags()
	f.BoolVar(&newToken, "new-security-token", false, "let Atelier generate a new security token, printed once")
	f.StringVar(&token, "security-token", "", "new security token, 16-128 characters")
	f.DurationVar(&overlap, "overlap", 24*time.Hour, "how long Atelier keeps using the current keys")
	return cmd
}

// timeFlag is the value of a time flag and where its parsed time goes.
type timeFlag struct {
	v   string
	dst *time.Time
}

// timeFlags parses the RFC 3339 values of the named flags into their
// destinations; empty values are skipped.
func timeFlags(flags map[string]timeFlag) error {
	for name, tf := range flags {
		if tf.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, tf.v)
		if err != nil {
			return usagef("--%s must be an RFC 3339 time like 2025-01-02T15:04:05Z", name)
		}
		*tf.dst = t
	}
	return nil
}

func newCallbackDeliveriesCommand() *cobra.Command {
	var (
		f            core.DeliveryFilter
		since, until string
		all          bool
	)
	cmd := &cobra.Command{
		Use:   "deliveries CLIENT_ID",
		Short: "List an app's deliveries, newest event first",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if err := timeFlags(map[string]timeFlag{"since": {since, &f.Since}, "until": {until, &f.Until}}); err != nil {
				return err
			}
			if f.Limit < 0 || f.Limit > 1000 {
				return usagef("--limit must be 1 to 1000")
			}
			if f.BeforeEvent < 0 {
				return usagef("--cursor must be the cursor a previous page printed")
			}
			f.State = strings.ToUpper(f.State)
			ctx := ctxOf(cmd)
			var items []*core.Delivery
			var next int64
			tw := table(cmd)
			if !isJSON(cmd) {
				fmt.Fprintln(tw, "ID\tEVENT\tTYPE\tSUBJECT\tSTATE\tATTEMPTS\tLAST STATUS\tCREATED")
			}
			for {
				page, n, err := c.ListDeliveries(ctx, args[0], f)
				if err != nil {
					return err
				}
				if isJSON(cmd) {
					items = append(items, page...)
				} else {
					for _, d := range page {
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.EventID, d.EventType, orDash(d.Subject),
							d.State, d.Attempts, statusCell(d.LastStatus), timeCell(d.CreatedAt))
					}
				}
				next = n
				if !all || next == 0 {
					break
				}
				f.BeforeEvent = next
			}
			cursor := ""
			if next > 0 {
				cursor = strconv.FormatInt(next, 10)
			}
			if isJSON(cmd) {
				if items == nil {
					items = []*core.Delivery{}
				}
				return printJSON(cmd, map[string]any{"deliveries": items, "next_cursor": cursor})
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if cursor != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "More deliveries follow: --cursor %s, or --all.\n", cursor)
			}
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.State, "state", "", "only deliveries in this state: PENDING, IN_FLIGHT, DELIVERED or DEAD")
	fl.StringVar(&since, "since", "", "events committed at or after this RFC 3339 time")
	fl.StringVar(&until, "until", "", "events committed before this RFC 3339 time")
	fl.IntVar(&f.Limit, "limit", 0, "deliveries per page, 1-1000 (default 100)")
	fl.Int64Var(&f.BeforeEvent, "cursor", 0, "continue after a previous page")
	fl.BoolVar(&all, "all", false, "follow the cursors to the end")
	return cmd
}

// statusCell formats an HTTP status for a table, "-" when none.
func statusCell(s int) string {
	if s == 0 {
		return "-"
	}
	return strconv.Itoa(s)
}

func newCallbackDeliveryCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delivery CLIENT_ID DELIVERY_ID",
		Short: "Describe a delivery with every attempt",
		Args:  exactArgs(2),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			d, attempts, err := c.GetDelivery(ctxOf(cmd), args[0], args[1])
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if attempts == nil {
					attempts = []*core.DeliveryAttempt{}
				}
				return printJSON(cmd, map[string]any{"delivery": d, "attempts": attempts})
			}
			if err := printFields(cmd, "ID", d.ID, "Client ID", d.ClientID, "Event", d.EventID, "Type", d.EventType,
				"Subject", orDash(d.Subject), "Nonce", d.Nonce, "State", d.State, "Attempts", d.Attempts,
				"Next attempt", timeCell(d.NextAttemptAt), "Last status", statusCell(d.LastStatus),
				"Last reply", orDash(d.LastReply), "Last error", orDash(d.LastError), "Created", timeCell(d.CreatedAt),
				"Updated", timeCell(d.UpdatedAt), "Delivered", timeCell(d.DeliveredAt)); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout())
			tw := table(cmd)
			fmt.Fprintln(tw, "#\tAT\tMS\tSTATUS\tOK\tERROR")
			for _, a := range attempts {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%v\t%s\n", a.N, a.At.UTC().Format(time.RFC3339Nano), a.DurationMS,
					statusCell(a.Status), a.OK, orDash(a.Error))
			}
			return tw.Flush()
		}),
	}
}

func newCallbackRedeliverCommand() *cobra.Command {
	var since, until string
	cmd := &cobra.Command{
		Use:   "redeliver CLIENT_ID [DELIVERY_ID]",
		Short: "Queue dead-lettered deliveries again: one, or those of events in [--since, --until)",
		Args:  rangeArgs(1, 2),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			var from, to time.Time
			if err := timeFlags(map[string]timeFlag{"since": {since, &from}, "until": {until, &to}}); err != nil {
				return err
			}
			var n int
			var err error
			if len(args) == 2 {
				if since != "" || until != "" {
					return usagef("--since and --until select deliveries to redeliver; they do not go with a DELIVERY_ID")
				}
				n, err = c.Redeliver(ctxOf(cmd), args[0], args[1])
			} else {
				n, err = c.RedeliverRange(ctxOf(cmd), args[0], from, to)
			}
			if err != nil {
				return err
			}
			return report(cmd, map[string]int{"redelivered": n}, "Queued %d dead-lettered deliveries again", n)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "events committed at or after this RFC 3339 time")
	f.StringVar(&until, "until", "", "events committed before this RFC 3339 time")
	return cmd
}

func newCallbackEventTypesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "event-types",
		Short: "List the event types apps can subscribe to",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			types, err := c.EventTypes(ctxOf(cmd))
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if types == nil {
					types = []string{}
				}
				return printJSON(cmd, map[string]any{"event_types": types})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "EVENT TYPE")
			for _, t := range types {
				fmt.Fprintln(tw, t)
			}
			return tw.Flush()
		}),
	}
}
