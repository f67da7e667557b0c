package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// browser is one headless Chromium (Debian's) with a fresh profile; it collects what the
// page logs as errors (console errors, exceptions, CSP violations).
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed: apt-get install chromium (.ci/run installs it)")
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	dir, err := os.MkdirTemp("", "chromium-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError || e.Type == runtime.APITypeWarning {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.errors = append(b.errors, string(e.Type)+": "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			b.errors = append(b.errors, "exception: "+e.ExceptionDetails.Error())
		}
	})
	require.NoError(t, chromedp.Run(ctx))
	return b
}

func (b *browser) run(t *testing.T, timeout time.Duration, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	require.NoError(t, chromedp.Run(ctx, actions...))
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func TestGoldenJourneyInARealBrowser(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	b := newBrowser(t)
	user := fmt.Sprintf("journey_%d", time.Now().UnixNano()%100000)
	started := time.Now()

	// Register, submitting the form with the keyboard only.
	var flash string
	b.run(t, 20*time.Second,
		chromedp.Navigate(sys.gateway+"/register"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, user),
		chromedp.SendKeys(`#password`, "correct horse battery"),
		chromedp.SendKeys(`#password`, kb.Enter),
		chromedp.WaitVisible(`.notification.is-success`),
		chromedp.Text(`.notification.is-success`, &flash),
	)
	assert.Contains(t, flash, "Your account is ready")

	// Log in, place an order through htmx.
	var orderID, status string
	b.run(t, 10*time.Second,
		chromedp.SendKeys(`#username`, user),
		chromedp.SendKeys(`#password`, "correct horse battery"),
		chromedp.Click(`main button[type=submit]`),
		chromedp.WaitVisible(`[data-testid=orders]`),
	)
	b.run(t, 10*time.Second,
		chromedp.Navigate(sys.gateway+"/orders/new"),
		chromedp.WaitVisible(`#item_name`),
		chromedp.SendKeys(`#item_name`, "Standing desk"),
		chromedp.SendKeys(`#quantity`, kb.End+kb.Backspace+"2"),
		chromedp.Click(`main button[type=submit]`),
		chromedp.WaitVisible(`[data-testid=order-created]`),
		chromedp.Text(`[data-testid=order-id]`, &orderID),
	)
	b.run(t, 10*time.Second,
		chromedp.Navigate(sys.gateway+"/orders"),
		chromedp.WaitVisible(`#status-`+orderID),
		chromedp.Text(`#status-`+orderID+` [data-testid=status]`, &status),
		// A mark that a reload would erase.
		chromedp.Evaluate(`window.__noReload = "still here"`, nil),
	)
	require.Len(t, orderID, 36)
	assert.Equal(t, "pending", status)

	// An admin approves; the open page turns "approved" by itself.
	time.Sleep(300 * time.Millisecond) // the event stream is connected
	sys.decide(sys.token("admin", sys.adminPwd), orderID, "approved")
	var mark string
	b.run(t, 10*time.Second,
		chromedp.WaitVisible(`#status-`+orderID+` .status-approved`),
		chromedp.Evaluate(`window.__noReload`, &mark),
	)
	assert.Equal(t, "still here", mark, "the page was not reloaded")

	// An event for a row the page already shows (its stream opened a little behind what it
	// rendered) does not add the row twice; a new row is let through.
	var dropped, passed bool
	b.run(t, 5*time.Second,
		chromedp.Evaluate(`!htmx.trigger("#orders-body", "htmx:sseBeforeMessage", {data: '\n<tr id="order-`+orderID+`">'})`, &dropped),
		chromedp.Evaluate(`htmx.trigger("#orders-body", "htmx:sseBeforeMessage", {data: '\n<tr id="order-new">'})`, &passed),
	)
	assert.True(t, dropped, "a duplicate row is dropped")
	assert.True(t, passed, "a new row passes")
	t.Logf("golden journey (register → login → order → approval seen live): %s", time.Since(started).Round(time.Millisecond))

	// Logout ends the session: the orders page sends us to the login.
	var url string
	b.run(t, 10*time.Second,
		chromedp.Click(`nav form button[type=submit]`),
		chromedp.WaitVisible(`.notification.is-success`),
		chromedp.Text(`.notification.is-success`, &flash),
		chromedp.Navigate(sys.gateway+"/orders"),
		chromedp.WaitVisible(`#username`),
		chromedp.Location(&url),
	)
	assert.Contains(t, flash, "logged out")
	assert.Contains(t, url, "/login")
	assert.Empty(t, b.consoleErrors(), "the pages log no errors")
}

func TestFilterPaginationAndCSRFInTheBrowser(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	b := newBrowser(t)
	user := fmt.Sprintf("pager_%d", time.Now().UnixNano()%100000)
	b.run(t, 20*time.Second,
		chromedp.Navigate(sys.gateway+"/register"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, user),
		chromedp.SendKeys(`#password`, "correct horse battery"),
		chromedp.Click(`main button[type=submit]`),
		chromedp.WaitVisible(`.notification.is-success`),
		chromedp.SendKeys(`#username`, user),
		chromedp.SendKeys(`#password`, "correct horse battery"),
		chromedp.Click(`main button[type=submit]`),
		chromedp.WaitVisible(`[data-testid=orders]`),
	)
	// Twenty-two orders through the page's own form posts, one of them approved.
	var first string
	for i := range 22 {
		var id string
		b.run(t, 10*time.Second,
			chromedp.Navigate(sys.gateway+"/orders/new"),
			chromedp.WaitVisible(`#item_name`),
			chromedp.SendKeys(`#item_name`, fmt.Sprintf("Item %02d", i)),
			chromedp.Click(`main button[type=submit]`),
			chromedp.WaitVisible(`[data-testid=order-id]`),
			chromedp.Text(`[data-testid=order-id]`, &id),
		)
		if i == 0 {
			first = id
		}
	}
	sys.decide(sys.token("admin", sys.adminPwd), first, "approved")

	var rows int
	var total string
	b.run(t, 10*time.Second,
		chromedp.Navigate(sys.gateway+"/orders"),
		chromedp.WaitVisible(`[data-testid=orders]`),
		chromedp.Evaluate(`document.querySelectorAll("#orders-body tr").length`, &rows),
		chromedp.Text(`.level-left`, &total),
	)
	assert.Equal(t, 20, rows, "a page of twenty, newest first")
	assert.Contains(t, total, "22 orders")

	var secondPage []string
	b.run(t, 10*time.Second,
		chromedp.Click(`a.button[hx-get*="page=2"]`),
		chromedp.WaitNotPresent(`a.button[hx-get*="page=2"]`),
		chromedp.Evaluate(`[...document.querySelectorAll("#orders-body tr td:nth-child(2)")].map(td => td.innerText.trim())`, &secondPage),
	)
	assert.Equal(t, []string{"Item 01", "Item 00"}, secondPage)

	var approvedRows []string
	b.run(t, 10*time.Second,
		chromedp.SetValue(`select[name=status]`, "approved"),
		chromedp.Evaluate(`document.querySelector("select[name=status]").dispatchEvent(new Event("change", {bubbles: true}))`, nil),
		chromedp.WaitVisible(`.level-left`),
		chromedp.Sleep(500*time.Millisecond),
		chromedp.Evaluate(`[...document.querySelectorAll("#orders-body [data-testid=status]")].map(s => s.innerText.trim())`, &approvedRows),
	)
	assert.Equal(t, []string{"approved"}, approvedRows)

	// A state-changing request without the CSRF token is refused, and nothing changes.
	var status int
	b.run(t, 10*time.Second,
		chromedp.Evaluate(`fetch("/orders", {method: "POST", body: new URLSearchParams({item_name: "forged", quantity: "1"})}).then(r => r.status)`,
			&status, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	)
	assert.Equal(t, 403, status)
	var forged int
	b.run(t, 10*time.Second,
		chromedp.Navigate(sys.gateway+"/orders"),
		chromedp.WaitVisible(`[data-testid=orders]`),
		chromedp.Evaluate(`[...document.querySelectorAll("#orders-body td")].filter(td => td.innerText.includes("forged")).length`, &forged),
	)
	assert.Zero(t, forged)
	assert.Empty(t, b.consoleErrors())
}
