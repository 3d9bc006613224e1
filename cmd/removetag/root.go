package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newRoot builds the command tree. Flags may come anywhere on the line
// (before, between or after the files); "--" ends them.
func newRoot(ctx context.Context, env *cliEnv) *cobra.Command {
	root := &cobra.Command{
		Use:   "removetag",
		Short: "Remove user tags in Tencent Cloud Chat at the API's full speed",
		Long: `removetag removes user tags in Tencent Cloud Chat (v4/all_member_push/im_remove_tag)
from files of accounts, with the engine of the serverless function.

It works on the app of IM_SDKAPPID and IM_SECRET_KEY (or REMOVETAG_SECRET), in
IM_REGION (or at IM_ENDPOINT), and names it before the first call; --emulator
runs against the built-in emulator instead.

Exit status: 0 every record succeeded; 1 some failed or are pending; 2 invalid
input or usage; 3 configuration error (of the environment, or refused by the service).`,
		Version:           version(),
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetContext(ctx)
	root.SetIn(env.stdin)
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%v (%s --help lists the flags)", err, c.CommandPath())
	})
	root.AddCommand(newRunCommand(env), newUndoCommand(env), newInvokeCommand(env), newCheckCommand(env), newStatusCommand(env), newCancelCommand(env))
	root.AddCommand(newPlanCommand(env))
	return root
}

// exactArgs is cobra.ExactArgs with the exit status of a usage error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("%s takes %s (%s --help)", c.CommandPath(), what, c.CommandPath())
		}
		return nil
	}
}

// changed reports whether the flag name was given on the command line.
func changed(fs *pflag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	return f != nil && f.Changed
}
