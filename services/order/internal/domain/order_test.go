package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caasdemo/orderdemo/services/order/internal/domain"
)

var owner = domain.Owner{UserID: "u1", Username: "alice"}

func TestDraftValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		draft  domain.Draft
		fields []string
	}{
		{"valid", domain.Draft{ItemName: "  Desk lamp ", Quantity: 1}, nil},
		{"max lengths", domain.Draft{ItemName: strings.Repeat("é", 255), Quantity: 100, Notes: strings.Repeat("n", 1000)}, nil},
		{"empty item", domain.Draft{ItemName: "   ", Quantity: 1}, []string{"item_name"}},
		{"long item", domain.Draft{ItemName: strings.Repeat("x", 256), Quantity: 1}, []string{"item_name"}},
		{"markup", domain.Draft{ItemName: "<b>lamp</b>", Quantity: 1}, []string{"item_name"}},
		{"quote", domain.Draft{ItemName: `24" monitor`, Quantity: 1}, []string{"item_name"}},
		{"zero quantity", domain.Draft{ItemName: "x", Quantity: 0}, []string{"quantity"}},
		{"too many", domain.Draft{ItemName: "x", Quantity: 101}, []string{"quantity"}},
		{"long notes", domain.Draft{ItemName: "x", Quantity: 1, Notes: strings.Repeat("n", 1001)}, []string{"notes"}},
		{"invalid utf-8", domain.Draft{ItemName: "x\xff", Quantity: 1}, []string{"item_name"}},
		{"NUL in item", domain.Draft{ItemName: "a\x00b", Quantity: 1}, []string{"item_name"}},
		{"CR in item (SSE field injection)", domain.Draft{ItemName: "lamp\rid: 999999999\revent: x", Quantity: 1}, []string{"item_name"}},
		{"LF in item", domain.Draft{ItemName: "lamp\ndata: x", Quantity: 1}, []string{"item_name"}},
		{"tab in item", domain.Draft{ItemName: "desk\tlamp", Quantity: 1}, []string{"item_name"}},
		{"escape in item", domain.Draft{ItemName: "lamp\x1b[2J", Quantity: 1}, []string{"item_name"}},
		{"DEL in item", domain.Draft{ItemName: "lamp\x7f", Quantity: 1}, []string{"item_name"}},
		{"C1 in item", domain.Draft{ItemName: "lamp\u0085x", Quantity: 1}, []string{"item_name"}},
		{"surrounding line breaks are trimmed", domain.Draft{ItemName: "\r\n\tDesk lamp\r\n", Quantity: 1}, nil},
		{"notes over lines, with tabs", domain.Draft{ItemName: "x", Quantity: 1, Notes: "one\n\ttwo\r\nthree\rfour"}, nil},
		{"NUL in notes", domain.Draft{ItemName: "x", Quantity: 1, Notes: "a\x00b"}, []string{"notes"}},
		{"escape in notes", domain.Draft{ItemName: "x", Quantity: 1, Notes: "a\x1b[2Jb"}, []string{"notes"}},
		{"invalid utf-8 in notes", domain.Draft{ItemName: "x", Quantity: 1, Notes: "a\xffb"}, []string{"notes"}},
		{"everything wrong", domain.Draft{Quantity: -1, Notes: strings.Repeat("n", 1001)}, []string{"item_name", "quantity", "notes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := tc.draft.Validate()
			if tc.fields == nil {
				if err != nil {
					t.Fatal(err)
				}
				if d.ItemName != strings.TrimSpace(tc.draft.ItemName) {
					t.Fatalf("item not trimmed: %q", d.ItemName)
				}
				return
			}
			var ve domain.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v", err)
			}
			var got []string
			for _, f := range ve {
				got = append(got, f.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("fields %v, want %v (%v)", got, tc.fields, err)
			}
		})
	}
}

func TestNotesLineBreaksAreStoredAsLF(t *testing.T) {
	t.Parallel()
	d, err := domain.Draft{ItemName: "x", Quantity: 1, Notes: "one\r\ntwo\rthree\nfour"}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if d.Notes != "one\ntwo\nthree\nfour" {
		t.Fatalf("notes %q", d.Notes)
	}
	// A note is measured once its line breaks are single characters.
	if _, err := (domain.Draft{ItemName: "x", Quantity: 1, Notes: strings.Repeat("\r\n", domain.MaxNotes)}).Validate(); err != nil {
		t.Fatalf("1000 CRLF line breaks: %v", err)
	}
}

func TestDecideOnlyOnceFromPending(t *testing.T) {
	t.Parallel()
	now := time.Now()
	o, err := domain.New("o1", owner, domain.Draft{ItemName: "lamp", Quantity: 2}, now)
	if err != nil {
		t.Fatal(err)
	}
	admin := domain.Admin{UserID: "a1", Username: "root"}
	var ve domain.ValidationError
	if err := o.Decide(domain.Pending, admin, now); !errors.As(err, &ve) {
		t.Fatalf("deciding pending: %v", err)
	}
	if err := o.Decide("shipped", admin, now); !errors.As(err, &ve) {
		t.Fatalf("deciding shipped: %v", err)
	}
	later := now.Add(time.Minute)
	if err := o.Decide(domain.Approved, admin, later); err != nil {
		t.Fatal(err)
	}
	s := o.Snapshot()
	if s.Status != domain.Approved || *s.DecidedBy != admin || !s.DecidedAt.Equal(later) || s.Version != 2 || !s.UpdatedAt.Equal(later) {
		t.Fatalf("after approve: %+v", s)
	}
	if err := o.Decide(domain.Rejected, admin, later); !errors.Is(err, domain.ErrNotPending) {
		t.Fatalf("second decision: %v", err)
	}
	if err := o.Decide(domain.Approved, admin, later.Add(time.Minute)); !errors.Is(err, domain.ErrAlreadyDecided) {
		t.Fatalf("the same decision by the same admin again: %v", err)
	}
	if err := o.Decide(domain.Approved, domain.Admin{UserID: "a2", Username: "other"}, later); !errors.Is(err, domain.ErrNotPending) {
		t.Fatalf("the same decision by another admin: %v", err)
	}
	if o.Snapshot() != s {
		t.Fatal("a refused or repeated decision changed the order")
	}
	back := domain.Rehydrate(s)
	if back.Snapshot() != s {
		t.Fatal("rehydrate changed the order")
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	t.Parallel()
	if _, err := domain.New("o1", owner, domain.Draft{Quantity: 1}, time.Now()); err == nil {
		t.Fatal("empty item accepted")
	}
	if _, err := domain.New("", owner, domain.Draft{ItemName: "x", Quantity: 1}, time.Now()); err == nil {
		t.Fatal("order without id accepted")
	}
	if _, ok := domain.ParseStatus("approved"); !ok {
		t.Fatal("approved not parsed")
	}
	if _, ok := domain.ParseStatus("Approved"); ok {
		t.Fatal("statuses are lower-case")
	}
	if st, err := domain.ParseDecision("rejected"); err != nil || st != domain.Rejected {
		t.Fatal("rejected is a decision")
	}
	if _, err := domain.ParseDecision("pending"); err == nil {
		t.Fatal("pending is not a decision")
	}
	if !strings.Contains(domain.ValidationError{{Field: "quantity", Rule: "must be x"}}.Error(), "quantity: must be x") {
		t.Fatal("error text")
	}
}
