package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/caasdemo/orderdemo/services/audit/internal/adapters"
	"github.com/caasdemo/orderdemo/services/audit/internal/config"
	"github.com/caasdemo/orderdemo/services/audit/internal/replay"
	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
)

// ReplayCommand is `audit replay [--projection=all|audit-log|orders] [--verify]`: it
// rebuilds a projection while the running service keeps serving, drawing a progress bar on
// term, lists the messages it skipped because they cannot be applied, and with --verify
// prints every difference it found. It fails when the replay fails,
// and when verification found differences (the rebuilt projection is swapped in anyway: it
// is what the events say).
func ReplayCommand(args []string, term io.Writer) app.Runner[config.Config] {
	return func(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
		fs := flag.NewFlagSet("replay", flag.ContinueOnError)
		fs.SetOutput(term)
		name := fs.String("projection", "all", "the projection to rebuild: all, audit-log or orders")
		verify := fs.Bool("verify", false, "compare rebuilt and live row by row, and the statistics with the order service")
		if err := fs.Parse(args); err != nil {
			return err
		}
		// Not measured: a one-off command next to the running service, which holds
		// METRICS_ADDR.
		b, err := open(ctx, cfg, telemetry.MetricsConfig{}, log)
		if err != nil {
			return err
		}
		defer b.Close()
		truth := adapters.OrderCounts{BaseURL: cfg.OrderURL, Issuer: authtoken.NewIssuer(cfg.Token, time.Now),
			Client: &http.Client{Transport: requestid.Transport{}, Timeout: 10 * time.Second}}
		p, err := replay.New(b.Pool, b.JS, truth, log).Run(ctx, *name, *verify, func(p replay.Progress) { drawBar(term, p) })
		fmt.Fprintln(term)
		if errors.Is(err, replay.ErrRunning) {
			return errors.New("another replay is running; wait for it to finish")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(term, "rebuilt %q from %d events in %s and swapped it in\n", p.Projection, p.Done, time.Since(p.StartedAt).Round(time.Millisecond))
		if p.Skipped > 0 {
			fmt.Fprintf(term, "skipped %d messages that cannot be applied (the live consumers park them; see the parked messages):\n", p.Skipped)
			for _, m := range p.SkippedMessages {
				fmt.Fprintln(term, "  "+m)
			}
		}
		if !*verify {
			return nil
		}
		if len(p.Differences) == 0 {
			fmt.Fprintln(term, "verified: no differences between the live and the rebuilt projection, nor with the order service")
			return nil
		}
		fmt.Fprintf(term, "verified: %d differences (the rebuilt projection, which the events explain, is now live):\n", len(p.Differences))
		for _, d := range p.Differences {
			fmt.Fprintln(term, "  "+d)
		}
		return fmt.Errorf("%d differences found", len(p.Differences))
	}
}

// drawBar redraws one line: bar, percentage, events done of total, rate and time left.
func drawBar(term io.Writer, p replay.Progress) {
	const width = 30
	frac := 1.0
	if p.Total > 0 {
		frac = float64(p.Done) / float64(p.Total)
	}
	filled := int(frac * width)
	fmt.Fprintf(term, "\r[%s%s] %3.0f%%  %d/%d events  %.0f events/s  ETA %s  %s   ",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100, p.Done, p.Total, p.Rate,
		(time.Duration(p.ETA) * time.Second).Round(time.Second), p.State)
}
