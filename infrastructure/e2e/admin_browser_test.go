package e2e

import (
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signUp registers and logs in through the pages.
func signUp(t *testing.T, b *browser, gateway, user string) {
	t.Helper()
	b.run(t, 20*time.Second,
		chromedp.Navigate(gateway+"/register"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, user),
		chromedp.SendKeys(`#password`, "correct horse battery"),
		chromedp.Click(`main button[type=submit]`),
		chromedp.WaitVisible(`.notification.is-success`),
	)
	logIn(t, b, gateway, user, "correct horse battery")
}

func logIn(t *testing.T, b *browser, gateway, user, password string) {
	t.Helper()
	b.run(t, 20*time.Second,
		chromedp.Navigate(gateway+"/login"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, user),
		chromedp.SendKeys(`#password`, password),
		chromedp.Click(`main button[type=submit]`),
		chromedp.WaitVisible(`[data-testid=orders]`),
	)
}

func placeOrder(t *testing.T, b *browser, gateway, item string) string {
	t.Helper()
	var id string
	b.run(t, 20*time.Second,
		chromedp.Navigate(gateway+"/orders/new"),
		chromedp.WaitVisible(`#item_name`),
		chromedp.SendKeys(`#item_name`, item),
		chromedp.Click(`main button[type=submit]`),
		chromedp.WaitVisible(`[data-testid=order-id]`),
		chromedp.Text(`[data-testid=order-id]`, &id),
	)
	return id
}

// waitText polls until the element's text is want.
// clickNow, waitFor and textNow find the element and act on it in one step in the page:
// a live update may replace a node between chromedp's query and its action ("No node with
// given id found"), as the decision's own answer and its event both swap the same cell.
func clickNow(sel string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).click()`, sel), nil)
}

func waitFor(sel string) chromedp.Action {
	return chromedp.Poll(fmt.Sprintf(`!!document.querySelector(%q)`, sel), nil, chromedp.WithPollingTimeout(15*time.Second))
}

func textNow(sel string, out *string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).innerText.trim()`, sel), out)
}

func waitText(sel, want string) chromedp.Action {
	return chromedp.Poll(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e && e.innerText.trim() === %q })()`, sel, want), nil,
		chromedp.WithPollingTimeout(15*time.Second))
}

func TestAdminDecidesWhileTheUserWatches(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	userB, adminB := newBrowser(t), newBrowser(t)
	user := fmt.Sprintf("buyer_%d", time.Now().UnixNano()%100000)
	signUp(t, userB, sys.gateway, user)
	desk := placeOrder(t, userB, sys.gateway, "Oak desk")
	chair := placeOrder(t, userB, sys.gateway, "Office chair")
	userB.run(t, 10*time.Second,
		chromedp.Navigate(sys.gateway+"/orders"),
		chromedp.WaitVisible(`#status-`+desk),
		chromedp.Evaluate(`window.__noReload = 1`, nil),
	)

	// The admin's dashboard: the queue, the statistics.
	logIn(t, adminB, sys.gateway, "admin", sys.adminPwd)
	adminB.run(t, 20*time.Second,
		chromedp.Navigate(sys.gateway+"/admin"),
		chromedp.WaitVisible(`#queue-`+desk),
		chromedp.WaitVisible(`#queue-`+chair),
		waitText(`[data-testid=stat-pending]`, "2"),
		chromedp.Evaluate(`window.__noReload = 1`, nil),
	)

	// One click each; the buttons give way to the decision, the user's page follows live,
	// and so do the statistics.
	var by string
	adminB.run(t, 15*time.Second,
		clickNow(`#action-`+desk+` button[value=approved]`),
		waitFor(`#action-`+desk+` [data-testid=decided]`),
		textNow(`#action-`+desk+` [data-testid=decided-by]`, &by),
		waitText(`[data-testid=stat-approved]`, "1"),
		clickNow(`#action-`+chair+` button[value=rejected]`),
		waitFor(`#action-`+chair+` [data-testid=decided]`),
		waitText(`[data-testid=stat-rejected]`, "1"),
		waitText(`[data-testid=stat-rate]`, "50%"),
	)
	assert.Equal(t, "admin", by)
	var noReload int
	userB.run(t, 15*time.Second,
		waitFor(`#status-`+desk+` .status-approved`),
		waitFor(`#status-`+chair+` .status-rejected`),
		chromedp.Evaluate(`window.__noReload`, &noReload),
	)
	assert.Equal(t, 1, noReload, "the user's page was not reloaded")
	adminB.run(t, 5*time.Second, chromedp.Evaluate(`window.__noReload`, &noReload))
	assert.Equal(t, 1, noReload, "the dashboard was not reloaded")

	// A decision another admin makes meanwhile shows up as such.
	lamp := placeOrder(t, userB, sys.gateway, "Desk lamp")
	adminB.run(t, 20*time.Second, chromedp.Navigate(sys.gateway+"/admin"), chromedp.WaitVisible(`#queue-`+lamp))
	sys.decide(sys.token("admin", sys.adminPwd), lamp, "approved")
	adminB.run(t, 15*time.Second, chromedp.WaitVisible(`#action-`+lamp+` [data-testid=decided]`))

	// A user who opens an admin page is refused.
	var body string
	userB.run(t, 10*time.Second,
		chromedp.Navigate(sys.gateway+"/admin"),
		chromedp.WaitVisible(`main h1`),
		chromedp.Text(`main`, &body),
	)
	assert.Contains(t, body, "This page is for admins.")
	assert.Contains(t, body, "Forbidden")
	assert.Empty(t, userB.consoleErrors())
	assert.Empty(t, adminB.consoleErrors())
}

func TestAdminSearchExportAuditTimelineAndReplay(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	alice, bob := newBrowser(t), newBrowser(t)
	admin := newBrowser(t)
	suffix := time.Now().UnixNano() % 100000
	aliceName, bobName := fmt.Sprintf("alice_%d", suffix), fmt.Sprintf("bob_%d", suffix)
	signUp(t, alice, sys.gateway, aliceName)
	signUp(t, bob, sys.gateway, bobName)
	a1 := placeOrder(t, alice, sys.gateway, "Alpha")
	placeOrder(t, alice, sys.gateway, "Beta")
	placeOrder(t, bob, sys.gateway, "Gamma")
	sys.decide(sys.token("admin", sys.adminPwd), a1, "approved")

	logIn(t, admin, sys.gateway, "admin", sys.adminPwd)
	rows := func() []string {
		var users []string
		admin.run(t, 10*time.Second, chromedp.Evaluate(
			`[...document.querySelectorAll("[data-testid=all-orders] [data-testid=row-user]")].map(e => e.innerText.trim())`, &users))
		return users
	}
	admin.run(t, 20*time.Second,
		chromedp.Navigate(sys.gateway+"/admin"),
		chromedp.WaitVisible(`#order-filters`),
		chromedp.SendKeys(`#order-filters input[name=search]`, "ALICE_"),
		chromedp.Click(`#order-filters button[type=submit]`),
		waitText(`[data-testid=all-total]`, "2 orders"),
	)
	assert.Equal(t, []string{aliceName, aliceName}, rows(), "partial, case-insensitive search")

	admin.run(t, 20*time.Second,
		chromedp.Evaluate(`(() => { const f = document.querySelector("#order-filters");
			f.search.value = ""; f.status.value = "pending"; f.sort.value = "username"; f.order.value = "asc"; })()`, nil),
		chromedp.Click(`#order-filters button[type=submit]`),
		chromedp.Poll(fmt.Sprintf(`[...document.querySelectorAll("[data-testid=all-orders] [data-testid=row-user]")].map(e => e.innerText.trim()).join() === %q`,
			aliceName+","+bobName), nil, chromedp.WithPollingTimeout(15*time.Second)),
	)
	assert.Equal(t, []string{aliceName, bobName}, rows(), "pending, by user ascending")

	// The CSV of the current filter has the rows of the table.
	var raw string
	admin.run(t, 10*time.Second, chromedp.Evaluate(
		`fetch(document.querySelector("[data-testid=csv]").href).then(r => r.text())`, &raw,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	records, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 3, "header and the two rows")
	assert.Equal(t, []string{aliceName, bobName}, []string{records[1][2], records[2][2]})

	// The audit log, filtered by order, links to its timeline.
	var types []string
	admin.run(t, 20*time.Second,
		chromedp.Navigate(sys.gateway+"/admin/audit?subject="+a1),
		chromedp.WaitVisible(`[data-testid=audit]`),
		chromedp.Evaluate(`[...document.querySelectorAll("[data-testid=audit-type]")].map(e => e.innerText)`, &types),
	)
	assert.ElementsMatch(t, []string{"OrderCreated", "OrderApproved"}, types)
	var timeline []string
	var command string
	admin.run(t, 20*time.Second,
		chromedp.Click(`[data-testid=audit] a`),
		chromedp.WaitVisible(`[data-testid=timeline]`),
		chromedp.Evaluate(`[...document.querySelectorAll("[data-testid=timeline-type]")].map(e => e.innerText)`, &timeline),
		chromedp.Text(`[data-testid=nats-command]`, &command),
	)
	assert.Equal(t, []string{"OrderCreated", "OrderApproved"}, timeline)
	assert.Contains(t, command, "nats stream view ORDERS --subject 'orders.*.*."+a1+"'")

	// A replay runs to the end with the bar at 100 %, and the statistics do not move.
	var before, after string
	admin.run(t, 20*time.Second,
		chromedp.Navigate(sys.gateway+"/admin"),
		waitText(`[data-testid=stat-total]`, "3"),
		chromedp.Text(`#stats`, &before),
		chromedp.Navigate(sys.gateway+"/admin/replay"),
		chromedp.WaitVisible(`[data-testid=start-replay]`),
		chromedp.Click(`[data-testid=start-replay]`),
		chromedp.WaitVisible(`[data-testid=replay][data-state=done]`),
	)
	var bar, verified string
	admin.run(t, 10*time.Second,
		chromedp.AttributeValue(`[data-testid=replay-bar]`, "value", &bar, nil),
		chromedp.Text(`[data-testid=replay-verified]`, &verified),
		chromedp.Navigate(sys.gateway+"/admin"),
		waitText(`[data-testid=stat-total]`, "3"),
		chromedp.Text(`#stats`, &after),
	)
	assert.Equal(t, "100", bar)
	assert.Contains(t, verified, "matches")
	assert.Equal(t, before, after)
	assert.Empty(t, admin.consoleErrors())
}
