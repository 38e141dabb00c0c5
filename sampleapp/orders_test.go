package sampleapp

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

func TestInlineKnob(t *testing.T) {
	app := startApp(t, sharedDB(t), map[string]string{KnobInline: "inline"})
	start := time.Now()
	b := mustStatus(t, http.StatusCreated, "POST", app.URL+"/orders", `{"user_id":12,"items":[{"product_id":3,"quantity":2},{"product_id":4,"quantity":1}]}`)
	took := time.Since(start)
	o := decode[Order](t, b)
	// Everything is done when the answer comes: 7 SMTP replies at >= 20 ms
	// and a webhook at >= 100 ms.
	if took < 200*time.Millisecond {
		t.Errorf("inline order answered in %s: the follow-up work cannot have been done", took)
	}
	mails := app.Mail()
	if len(mails) != 1 || mails[0].To[0] != "user12@example.test" || !strings.Contains(mails[0].Data, "order #"+itoa(o.ID)) {
		t.Errorf("mail: %+v", mails)
	}
	hooks := app.Webhooks()
	if len(hooks) != 1 || hooks[0].IdempotencyKey != "order-"+itoa(o.ID) {
		t.Errorf("webhooks: %+v", hooks)
	}
	pdf := mustStatus(t, http.StatusOK, "GET", app.URL+"/orders/"+itoa(o.ID)+"/invoice", "")
	checkPDF(t, pdf)
	// A user token may not read someone else's invoice.
	mustStatus(t, http.StatusForbidden, "GET", app.URL+"/orders/"+itoa(o.ID)+"/invoice", "", "Authorization", "Bearer "+UserToken(13))
}

func checkPDF(t *testing.T, pdf []byte) {
	t.Helper()
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || !bytes.Contains(pdf[len(pdf)-16:], []byte("%%EOF")) {
		t.Fatalf("not a PDF: %q...", pdf[:min(len(pdf), 16)])
	}
	if n := bytes.Count(pdf, []byte("/Type /Page\n")); n < 2 {
		t.Errorf("invoice has %d pages, want several", n)
	}
}

func TestRenderInvoice(t *testing.T) {
	o := Order{ID: 42, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), TotalCents: 12345,
		Items: []OrderItem{{ProductID: 1, ProductName: "Kettle", Quantity: 2, PriceCents: 5000}, {ProductID: 2, ProductName: "Lamp", Quantity: 1, PriceCents: 2345}}}
	pdf, err := renderInvoice(o, "Ada")
	if err != nil {
		t.Fatal(err)
	}
	checkPDF(t, pdf)
	if !bytes.Contains(pdf, []byte("/Title (")) {
		t.Error("no title in the PDF's metadata")
	}
}

func TestQueuedKnob(t *testing.T) {
	app := startApp(t, sharedDB(t), map[string]string{KnobInline: "queued"})
	mustStatus(t, http.StatusCreated, "POST", app.URL+"/orders", `{"user_id":14,"items":[{"product_id":5,"quantity":1}]}`) // warm
	start := time.Now()
	b := mustStatus(t, http.StatusCreated, "POST", app.URL+"/orders", `{"user_id":14,"items":[{"product_id":6,"quantity":1}]}`)
	// Inline, the SMTP conversation (7 replies of >= 20 ms) and the webhook
	// (>= 100 ms) alone would take 240 ms.
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("queued order answered in %s, want at once", took)
	}
	o := decode[Order](t, b)
	eventually(t, 15*time.Second, "mail, webhook and invoice by a worker", func() bool {
		code, _ := do(t, "GET", app.URL+"/orders/"+itoa(o.ID)+"/invoice", "")
		return code == http.StatusOK && len(app.Mail()) == 2 && len(app.Webhooks()) == 2
	})
}

// TestJobsSurviveRestart: jobs queued by an instance that stops before they
// are worked are done by the next one.
func TestJobsSurviveRestart(t *testing.T) {
	dsn := stacktest.NewDatabase(t, "sampleapp_restart")
	small := Size{Users: 20, Events: 200, Products: 10, Orders: 10, PayloadBytes: 2_200}
	ctx := context.Background()
	if _, err := Seed(ctx, dsn, small, false); err != nil {
		t.Fatal(err)
	}
	// Idempotent seeding, and a clear refusal for another size.
	if res, err := Seed(ctx, dsn, small, false); err != nil || !res.Already {
		t.Errorf("reseed with the same size: %+v, %v", res, err)
	}
	if _, err := Seed(ctx, dsn, Size{Users: 30, Events: 1, Products: 1, Orders: 1}, false); !errors.Is(err, ErrSeededDifferently) {
		t.Errorf("reseed with another size: %v, want ErrSeededDifferently", err)
	}

	first := startApp(t, dsn, map[string]string{KnobInline: "queued"}, func(c *Config) { c.Workers = -1 })
	var ids []int64
	for i := 1; i <= 3; i++ {
		b := mustStatus(t, http.StatusCreated, "POST", first.URL+"/orders", `{"user_id":`+itoa(int64(i))+`,"items":[{"product_id":1,"quantity":1}]}`)
		ids = append(ids, decode[Order](t, b).ID)
	}
	conn := connect(t, dsn)
	var available int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state = 'available' AND kind = 'order_fulfilment'").Scan(&available); err != nil {
		t.Fatal(err)
	}
	if available != 3 {
		t.Fatalf("%d jobs available before the restart, want 3", available)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := startApp(t, dsn, nil)
	eventually(t, 20*time.Second, "the 3 queued jobs done after the restart", func() bool {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM invoices WHERE order_id = ANY($1)", ids).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 3 && len(second.Mail()) == 3 && len(second.Webhooks()) == 3
	})
	if len(first.Mail()) != 0 {
		t.Error("the API-only instance sent mail")
	}
}

// TestConcurrentOrders: concurrent POST /orders, each sent twice with the
// same Idempotency-Key, give exactly one order per key, with its items.
func TestConcurrentOrders(t *testing.T) {
	dsn := sharedDB(t)
	app := startApp(t, dsn, map[string]string{KnobInline: "queued"}, func(c *Config) { c.Workers = -1 })
	const n = 30
	prefix := "concurrent-" + itoa(time.Now().UnixNano()) + "-"
	var wg sync.WaitGroup
	codes := make(chan int, 2*n)
	for i := 0; i < n; i++ {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, b := do(t, "POST", app.URL+"/orders", `{"user_id":`+itoa(int64(40+i))+`,"items":[{"product_id":7,"quantity":1},{"product_id":8,"quantity":3}]}`,
					"Idempotency-Key", prefix+itoa(int64(i)))
				if code != http.StatusCreated && code != http.StatusOK {
					t.Errorf("status %d: %s", code, b)
				}
				codes <- code
			}()
		}
	}
	wg.Wait()
	close(codes)
	created := 0
	for c := range codes {
		if c == http.StatusCreated {
			created++
		}
	}
	if created != n {
		t.Errorf("%d answers 201 Created, want %d (one per key)", created, n)
	}
	conn := connect(t, dsn)
	var orders, items, badTotals int
	err := conn.QueryRow(context.Background(), `SELECT count(DISTINCT o.id), count(i.id),
		count(DISTINCT o.id) FILTER (WHERE o.total_cents <> (SELECT sum(quantity * price_cents) FROM order_items WHERE order_id = o.id))
		FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.idempotency_key LIKE $1`, prefix+"%").Scan(&orders, &items, &badTotals)
	if err != nil {
		t.Fatal(err)
	}
	if orders != n || items != 2*n || badTotals != 0 {
		t.Errorf("persisted %d orders with %d items (%d with a wrong total), want %d with %d", orders, items, badTotals, n, 2*n)
	}
}

func TestBadInput(t *testing.T) {
	app := startApp(t, sharedDB(t), nil)
	big := `{"user_id":1,"items":[` + strings.Repeat(`{"product_id":1,"quantity":1},`, 5000) + `{"product_id":1,"quantity":1}]}`
	cases := []struct {
		name, method, path, body string
		header                   []string
		want                     int
	}{
		{"no token", "GET", "/users/1/feed", "", []string{"Authorization", ""}, http.StatusUnauthorized},
		{"bad token", "GET", "/users/1/feed", "", []string{"Authorization", "Bearer nope"}, http.StatusUnauthorized},
		{"not bearer", "GET", "/users/1", "", []string{"Authorization", "Basic YTpi"}, http.StatusUnauthorized},
		{"bad id", "GET", "/users/abc/feed", "", nil, http.StatusBadRequest},
		{"unknown user", "GET", "/users/999999/feed", "", nil, http.StatusNotFound},
		{"unknown user profile", "GET", "/users/999999", "", nil, http.StatusNotFound},
		{"other user's orders", "GET", "/users/2/orders", "", []string{"Authorization", "Bearer " + UserToken(1)}, http.StatusForbidden},
		{"own orders", "GET", "/users/1/orders", "", []string{"Authorization", "Bearer " + UserToken(1)}, http.StatusOK},
		{"malformed JSON", "POST", "/orders", `{"user_id":1,"items":[`, nil, http.StatusBadRequest},
		{"unknown field", "POST", "/orders", `{"user_id":1,"items":[{"product_id":1,"quantity":1}],"coupon":"X"}`, nil, http.StatusBadRequest},
		{"trailing data", "POST", "/orders", `{"user_id":1,"items":[{"product_id":1,"quantity":1}]} {}`, nil, http.StatusBadRequest},
		{"oversized body", "POST", "/orders", big, nil, http.StatusRequestEntityTooLarge},
		{"no items", "POST", "/orders", `{"user_id":1,"items":[]}`, nil, http.StatusUnprocessableEntity},
		{"bad quantity", "POST", "/orders", `{"user_id":1,"items":[{"product_id":1,"quantity":0}]}`, nil, http.StatusUnprocessableEntity},
		{"unknown product", "POST", "/orders", `{"user_id":1,"items":[{"product_id":99999999,"quantity":1}]}`, nil, http.StatusUnprocessableEntity},
		{"unknown user in body", "POST", "/orders", `{"user_id":99999999,"items":[{"product_id":1,"quantity":1}]}`, nil, http.StatusUnprocessableEntity},
		{"order for someone else", "POST", "/orders", `{"user_id":2,"items":[{"product_id":1,"quantity":1}]}`, []string{"Authorization", "Bearer " + UserToken(1)}, http.StatusForbidden},
		{"unknown invoice", "GET", "/orders/99999999/invoice", "", nil, http.StatusNotFound},
		{"unknown endpoint", "GET", "/nope", "", nil, http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b := do(t, c.method, app.URL+c.path, c.body, c.header...)
			if code != c.want {
				t.Fatalf("status %d, want %d: %s", code, c.want, b)
			}
			if code >= 400 {
				if e := decode[map[string]string](t, b); e["error"] == "" {
					t.Errorf("no JSON error body: %s", b)
				}
			}
		})
	}
	// Nothing half-written: the unknown product rolled the order back.
	var n int
	if err := connect(t, sharedDSN).QueryRow(context.Background(),
		"SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d orders without items", n)
	}
}

// TestLoadMix runs the benchmark's mix briefly against the tuned service:
// every request of it must succeed.
func TestLoadMix(t *testing.T) {
	app := startApp(t, sharedDB(t), map[string]string{KnobInline: "queued"}, func(c *Config) { c.Workers = -1 })
	mix, vars, header := LoadMix(testSize)
	if len(mix) != 4 || vars["uid"].Max != testSize.Users || !strings.Contains(header.Get("Authorization"), LoadTestToken) {
		t.Fatalf("mix %+v vars %+v header %v", mix, vars, header)
	}
	res, err := load.Run(context.Background(), load.Config{BaseURL: app.URL, Mix: mix, Vars: vars, Header: header,
		Connections: 4, MaxRequests: 400, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Requests != 400 {
		t.Errorf("%d requests, %d errors: %v", res.Requests, res.Errors, res.ErrorsByKind)
	}
	for _, e := range mix {
		if r := res.PerEntry[e.Name]; r == nil || r.Requests == 0 {
			t.Errorf("entry %s not exercised", e.Name)
		}
	}
}

// TestJobWorkersKnob: with jobworkers=0 queued orders wait in river_job;
// switched to sized at run time, workers start and do them.
func TestJobWorkersKnob(t *testing.T) {
	dsn := stacktest.NewDatabase(t, "sampleapp_jobworkers")
	ctx := context.Background()
	if _, err := Seed(ctx, dsn, Size{Users: 20, Events: 200, Products: 10, Orders: 10, PayloadBytes: 2_200}, false); err != nil {
		t.Fatal(err)
	}
	app := startApp(t, dsn, map[string]string{KnobInline: "queued", KnobJobWorkers: "0"})
	var ids []int64
	for i := 1; i <= 3; i++ {
		b := mustStatus(t, http.StatusCreated, "POST", app.URL+"/orders", `{"user_id":`+itoa(int64(i))+`,"items":[{"product_id":1,"quantity":1}]}`)
		ids = append(ids, decode[Order](t, b).ID)
	}
	conn := connect(t, dsn)
	time.Sleep(500 * time.Millisecond) // more than river's fetch interval
	var available int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state = 'available'").Scan(&available); err != nil {
		t.Fatal(err)
	}
	if available != 3 || len(app.Mail()) != 0 {
		t.Fatalf("jobworkers=0: %d jobs available, %d mails; want 3 and none", available, len(app.Mail()))
	}
	for _, v := range []string{"2", "sized"} {
		if err := app.SetKnob(ctx, KnobJobWorkers, v); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "the 3 queued jobs done once workers run", func() bool {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM invoices WHERE order_id = ANY($1)", ids).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 3 && len(app.Mail()) == 3
	})
}
