// Package adapters holds the audit service's outward calls: the order service, asked for the
// true order counts when a replay verifies its statistics.
package adapters

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
)

// OrderCounts asks GET /orders of the order service how many orders have each status. It
// signs a short admin token of its own with the shared secret, as the service account
// "audit".
type OrderCounts struct {
	BaseURL string
	Client  *http.Client
	Issuer  *authtoken.Issuer
}

// OrderCounts implements replay.Truth.
func (o OrderCounts) OrderCounts(ctx context.Context) (map[string]int64, error) {
	token, _, err := o.Issuer.Issue(events.NewID(), "audit", true, "")
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, status := range []string{"pending", "approved", "rejected"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.BaseURL+"/orders?limit=1&status="+status, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := o.Client.Do(req)
		if err != nil {
			return nil, err
		}
		var body struct {
			Total int64 `json:"total"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET /orders answered %s", resp.Status)
		}
		if err != nil {
			return nil, err
		}
		out[status] = body.Total
	}
	return out, nil
}
