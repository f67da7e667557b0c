// Command devstack runs the whole system on one machine without Docker (`make run`), and
// runs a command with the servers the tests need (`make test`).
//
//	devstack run                 find or start PostgreSQL, Valkey and NATS, build and start
//	                             the four services, print where to go; Ctrl-C stops all it started
//	devstack exec -- CMD [ARG…]  find or start PostgreSQL and Valkey, run CMD with
//	                             TEST_DATABASE_URL and TEST_VALKEY_URL set, stop what it started
//	devstack replay [ARG…]       run `audit replay ARG…` against the system `devstack run` started
//
// Settings come from the environment; see the configuration table in README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/caasdemo/orderdemo/infrastructure/localstack"
	"github.com/caasdemo/orderdemo/services/platform/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack: "+err.Error())
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, out io.Writer) (int, error) {
	var cfg localstack.Config
	if err := config.Load(os.LookupEnv, &cfg); err != nil {
		return 2, err
	}
	if len(args) == 0 {
		return 2, errors.New("usage: devstack run | devstack exec -- CMD [ARG...]")
	}
	stack, err := localstack.New(cfg, out)
	if err != nil {
		return 1, err
	}
	defer stack.Stop()
	switch args[0] {
	case "run":
		return runSystem(ctx, stack, cfg, out)
	case "replay":
		return replayProjections(ctx, stack, cfg, args[1:])
	case "exec":
		if len(args) > 1 && args[1] == "--" {
			args = args[1:]
		}
		if len(args) < 2 {
			return 2, errors.New("usage: devstack exec -- CMD [ARG...]")
		}
		return execWithServers(ctx, stack, args[1:])
	default:
		return 2, fmt.Errorf("unknown command %q: want run, exec or replay", args[0])
	}
}

func runSystem(ctx context.Context, stack *localstack.Stack, cfg localstack.Config, out io.Writer) (int, error) {
	started := time.Now()
	if err := stack.EnsureServers(ctx, true); err != nil {
		return 1, err
	}
	root, err := localstack.RepoRoot()
	if err != nil {
		return 1, err
	}
	binDir := filepath.Join(cfg.DataDir, "bin")
	fmt.Fprintln(out, "stack: building the services")
	if err := localstack.BuildServices(ctx, root, binDir); err != nil {
		return 1, err
	}
	if err := stack.StartServices(ctx, binDir, 60*time.Second); err != nil {
		return 1, err
	}
	printBanner(out, stack, time.Since(started))

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "stack: stopping")
		return 0, nil
	case p := <-stack.Exited():
		return 1, fmt.Errorf("%s exited unexpectedly (%v); stopping everything", p.Name, p.Err())
	}
}

// printBanner tells where to go once the system is ready. The admin password is shown only
// when the stack generated it (it is then kept in the secrets file): one that came from the
// environment is the user's own, and is not echoed into a terminal's scroll-back or a log.
func printBanner(out io.Writer, stack *localstack.Stack, ready time.Duration) {
	user, password := stack.AdminLogin()
	admin := user + " / the password in ADMIN_PASSWORD (from your environment)"
	switch stack.AdminPasswordSource() {
	case localstack.PasswordGenerated:
		admin = fmt.Sprintf("%s / %s   (generated, kept in %s)", user, password, stack.SecretsPath())
	case localstack.PasswordFromHash:
		admin = user + " / the password ADMIN_PASSWORD_HASH was made from (from your environment)"
	}
	fmt.Fprintf(out, `
  CaaS Order Demo is running (ready in %.1fs).

    Open      %s
    Admin     %s
    Streams   nats --server %s stream ls
%s    Stop      Ctrl-C

`, ready.Seconds(), stack.GatewayURL(), admin, stack.NATSURL, metricsLines(stack))
}

// metricsLines lists where each service's metrics are scraped (docs/observability.md), one
// line each, in the banner's layout; none for a service whose metrics port is 0.
func metricsLines(stack *localstack.Stack) string {
	var b strings.Builder
	label := "Metrics"
	for _, name := range []string{"gateway", "auth", "order", "audit"} {
		if url := stack.MetricsURL(name); url != "" {
			fmt.Fprintf(&b, "    %-9s %-8s %s\n", label, name, url)
			label = ""
		}
	}
	return b.String()
}

func execWithServers(ctx context.Context, stack *localstack.Stack, argv []string) (int, error) {
	if err := stack.EnsureServers(ctx, false); err != nil {
		return 1, err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"TEST_DATABASE_URL="+stack.AdminPostgresURL,
		"TEST_VALKEY_URL="+stack.ValkeyURL,
	)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

// replayProjections runs the audit service's replay command next to the running system: it
// finds the same servers (the embedded NATS of the running `devstack run` included) and
// secrets, and passes them to `audit replay`.
func replayProjections(ctx context.Context, stack *localstack.Stack, cfg localstack.Config, args []string) (int, error) {
	if err := stack.EnsureServers(ctx, false); err != nil {
		return 1, err
	}
	if err := stack.UseRunningNATS(); err != nil {
		return 1, err
	}
	root, err := localstack.RepoRoot()
	if err != nil {
		return 1, err
	}
	binDir := filepath.Join(cfg.DataDir, "bin")
	if err := localstack.BuildServices(ctx, root, binDir); err != nil {
		return 1, err
	}
	env, err := stack.ServiceEnv("audit")
	if err != nil {
		return 1, err
	}
	if os.Getenv("LOG_LEVEL") == "" {
		env = append(env, "LOG_LEVEL=warn") // the progress bar, not the logs, is what to watch
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "audit"), append([]string{"replay"}, args...)...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}
