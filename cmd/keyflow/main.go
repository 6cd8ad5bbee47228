package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// defaultGCPercent is the GC target when GOGC is not set.
const defaultGCPercent = 400

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// Scripts' Date methods use the local zone; every worker must agree on it for replay.
	time.Local = time.UTC
	if os.Getenv("GOGC") == "" {
		// Each argon2id check allocates 19 MiB, which at Go's default (100) runs the GC about
		// every fourth login: 400 cuts keyflow's CPU per login by a sixth and raises client
		// credentials throughput by a quarter (docs/performance.md). GOGC in the environment wins.
		debug.SetGCPercent(defaultGCPercent)
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// usageError is a command line the binary cannot act on (unknown flag, bad argument).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// run executes the command line and returns the exit status: 0 on success, 2 for a bad
// configuration or command line, 1 for any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := &Config{}
	root := &cobra.Command{
		Use:           "keyflow",
		Short:         "Keyflow identity server: OIDC, SAML, SCIM and adaptive authentication on Temporal",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	cfg.bindFlags(root.PersistentFlags())

	withConfig := func(fn func(ctx context.Context, cfg *Config, out io.Writer) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			if err := cfg.load(cmd.Flags(), getenv); err != nil {
				return err
			}
			return fn(cmd.Context(), cfg, cmd.OutOrStdout())
		}
	}
	root.AddCommand(
		&cobra.Command{
			Use:   "serve",
			Short: "Run everything in one process: HTTP front-ends, a worker, and embedded Temporal and PostgreSQL unless addresses are given",
			Args:  cobra.NoArgs,
			RunE:  withConfig(serve),
		},
		&cobra.Command{
			Use:   "api",
			Short: "Run the stateless HTTP front-ends against an external Temporal and PostgreSQL",
			Args:  cobra.NoArgs,
			RunE:  withConfig(apiOnly),
		},
		&cobra.Command{
			Use:   "worker",
			Short: "Run a Temporal worker against an external Temporal and PostgreSQL (serves only /healthz, /readyz and /metrics)",
			Args:  cobra.NoArgs,
			RunE:  withConfig(workerOnly),
		},
		&cobra.Command{
			Use:   "migrate",
			Short: "Apply the database migrations to --database-url and exit",
			Args:  cobra.NoArgs,
			RunE:  withConfig(migrate),
		},
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "keyflow", buildVersion())
				return err
			},
		},
	)

	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "keyflow:", err)
	var ce *ConfigError
	var ue *usageError
	if errors.As(err, &ce) || errors.As(err, &ue) || isCobraUsage(err) {
		return 2
	}
	return 1
}

// isCobraUsage recognises cobra's own argument errors, which are plain errors.
func isCobraUsage(err error) bool {
	var nf *pflag.NotExistError
	if errors.As(err, &nf) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "unknown flag", "unknown shorthand"} {
		if len(msg) >= len(p) && (msg[:len(p)] == p) {
			return true
		}
	}
	return false
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
