package ports

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/caasdemo/orderdemo/services/order/internal/domain"
	"github.com/caasdemo/orderdemo/services/platform/httpserver"
)

// csvHeader is the export's first row.
var csvHeader = []string{"order_id", "created_at", "username", "user_id", "item_name", "quantity", "notes", "status", "decided_by", "decided_at"}

// export streams the orders matching the list's filters as CSV (RFC 4180: CRLF line ends,
// quoted when needed). Rows go out as they are read, so memory stays flat for any size; a
// spreadsheet formula in a cell is neutralised.
func (h *HTTP) export(w http.ResponseWriter, r *http.Request) {
	f, err := parseQuery(r, true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="orders-`+time.Now().UTC().Format("20060102-150405")+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a large export may take longer than the server's write timeout

	out := csv.NewWriter(w)
	out.UseCRLF = true
	_ = out.Write(csvHeader)
	n := 0
	err = h.app.Export(r.Context(), f, func(s domain.Snapshot) error {
		decidedBy, decidedAt := "", ""
		if s.DecidedBy != nil {
			decidedBy = s.DecidedBy.Username
		}
		if s.DecidedAt != nil {
			decidedAt = s.DecidedAt.UTC().Format(time.RFC3339)
		}
		row := []string{s.ID, s.CreatedAt.UTC().Format(time.RFC3339), s.Owner.Username, s.Owner.UserID, s.ItemName,
			strconv.Itoa(s.Quantity), s.Notes, string(s.Status), decidedBy, decidedAt}
		for i := range row {
			row[i] = httpserver.NeutraliseFormula(row[i])
		}
		if err := out.Write(row); err != nil {
			return err
		}
		if n++; n%1000 == 0 {
			out.Flush()
			return out.Error()
		}
		return nil
	})
	if err != nil && n == 0 {
		// Nothing has left the buffer yet (the database did not answer): a proper answer
		// instead of an empty file.
		w.Header().Del("Content-Disposition")
		h.fail(w, r, err)
		return
	}
	out.Flush()
	if err != nil {
		// The header is sent: all that is left is to log and cut the stream short.
		h.log.ErrorContext(r.Context(), "export interrupted", "rows", n, "error", err)
		return
	}
	h.log.InfoContext(r.Context(), "orders exported", "rows", n)
}
