package sampleapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// Order is an order with its items.
type Order struct {
	ID         int64       `json:"id"`
	UserID     int64       `json:"user_id"`
	Status     string      `json:"status"`
	TotalCents int64       `json:"total_cents"`
	CreatedAt  time.Time   `json:"created_at"`
	Items      []OrderItem `json:"items"`
}

// OrderItem is one line of an order.
type OrderItem struct {
	ProductID   int64  `json:"product_id"`
	ProductName string `json:"product_name"`
	Quantity    int    `json:"quantity"`
	PriceCents  int64  `json:"price_cents"`
}

// canAccess says whether p may act on userID's private data.
func canAccess(p Principal, userID int64) bool {
	return p.Scope == scopeStaff || p.UserID == userID
}

const ordersPerPage = 20

func (a *App) getOrders(w http.ResponseWriter, r *http.Request, s *settings, pr Principal) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	if !canAccess(pr, id) {
		a.fail(w, r, errForbidden)
		return
	}
	ctx := r.Context()
	prof, err := a.profile(ctx, s, r, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	orders, err := a.loadOrders(ctx, s, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": map[string]any{"id": prof.ID, "display_name": prof.DisplayName}, "orders": orders})
}

// loadOrders reads a user's latest orders with their items: the items of
// each order in a query of its own (per-row), or all in one = ANY($1) query.
func (a *App) loadOrders(ctx context.Context, s *settings, userID int64) ([]Order, error) {
	q, release, err := a.db.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	sql := "SELECT id, user_id, status, total_cents, created_at FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20"
	if s.selectStar {
		sql = "SELECT * FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20"
	}
	rows, err := q.Query(ctx, sql, userID)
	if err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	orders := make([]Order, 0, ordersPerPage)
	var key *string
	for rows.Next() {
		var o Order
		if s.selectStar {
			err = rows.Scan(&o.ID, &o.UserID, &o.Status, &o.TotalCents, &key, &o.CreatedAt)
		} else {
			err = rows.Scan(&o.ID, &o.UserID, &o.Status, &o.TotalCents, &o.CreatedAt)
		}
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("orders: %w", err)
		}
		o.Items = []OrderItem{}
		orders = append(orders, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	const itemsSQL = `SELECT i.order_id, i.product_id, p.name, i.quantity, i.price_cents
		FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = ANY($1) ORDER BY i.order_id, i.id`
	if s.perRow {
		for i := range orders {
			items, err := queryItems(ctx, q, `SELECT i.order_id, i.product_id, p.name, i.quantity, i.price_cents
				FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = $1 ORDER BY i.id`, orders[i].ID)
			if err != nil {
				return nil, err
			}
			orders[i].Items = items[orders[i].ID]
		}
		return orders, nil
	}
	if len(orders) == 0 {
		return orders, nil
	}
	ids := make([]int64, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	items, err := queryItems(ctx, q, itemsSQL, ids)
	if err != nil {
		return nil, err
	}
	for i := range orders {
		if it := items[orders[i].ID]; it != nil {
			orders[i].Items = it
		}
	}
	return orders, nil
}

func queryItems(ctx context.Context, q querier, sql string, arg any) (map[int64][]OrderItem, error) {
	rows, err := q.Query(ctx, sql, arg)
	if err != nil {
		return nil, fmt.Errorf("order items: %w", err)
	}
	defer rows.Close()
	out := map[int64][]OrderItem{}
	for rows.Next() {
		var orderID int64
		var it OrderItem
		if err := rows.Scan(&orderID, &it.ProductID, &it.ProductName, &it.Quantity, &it.PriceCents); err != nil {
			return nil, fmt.Errorf("order items: %w", err)
		}
		out[orderID] = append(out[orderID], it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("order items: %w", err)
	}
	return out, nil
}

// NewOrder is the body of POST /orders.
type NewOrder struct {
	UserID int64          `json:"user_id"`
	Items  []NewOrderItem `json:"items"`
}

// NewOrderItem is one line of NewOrder.
type NewOrderItem struct {
	ProductID int64 `json:"product_id"`
	Quantity  int   `json:"quantity"`
}

const maxOrderItems = 50

func (n NewOrder) validate() error {
	if n.UserID <= 0 {
		return &invalidError{"user_id must be a positive integer"}
	}
	if len(n.Items) == 0 || len(n.Items) > maxOrderItems {
		return &invalidError{fmt.Sprintf("an order needs 1 to %d items", maxOrderItems)}
	}
	for _, it := range n.Items {
		if it.ProductID <= 0 {
			return &invalidError{"product_id must be a positive integer"}
		}
		if it.Quantity < 1 || it.Quantity > 100 {
			return &invalidError{"quantity must be between 1 and 100"}
		}
	}
	return nil
}

// postOrder creates an order and its items in one transaction (with an
// event for the user's feed and, when queued, the follow-up job), then does
// or enqueues the follow-up work. An Idempotency-Key header makes retries
// safe: the same key gives the same order, created once.
func (a *App) postOrder(w http.ResponseWriter, r *http.Request, s *settings, pr Principal) {
	var in NewOrder
	if err := decodeJSON(w, r, &in, maxBodyBytes); err != nil {
		if errors.Is(err, errBodyTooLarge) {
			a.fail(w, r, err)
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := in.validate(); err != nil {
		a.fail(w, r, err)
		return
	}
	if !canAccess(pr, in.UserID) {
		a.fail(w, r, errForbidden)
		return
	}
	var idem *string
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		if len(k) > 200 {
			writeError(w, http.StatusBadRequest, "Idempotency-Key longer than 200 characters")
			return
		}
		idem = &k
	}
	ctx := r.Context()
	if _, err := a.profile(ctx, s, r, in.UserID); err != nil {
		if errors.Is(err, errNotFound) {
			err = &invalidError{"unknown user_id " + strconv.FormatInt(in.UserID, 10)}
		}
		a.fail(w, r, err)
		return
	}
	order, created, err := a.createOrder(ctx, s, in, idem)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !created {
		writeJSON(w, http.StatusOK, order)
		return
	}
	if s.cache {
		a.nearFeeds.drop(in.UserID)
		if !a.cache.del(ctx, a.cacheKey("feed", in.UserID)) {
			// Redis may keep the old feed until its TTL: read PostgreSQL
			// for this user's feed until then.
			a.staleFeeds.put(a.cacheGen.Load(), in.UserID, nil)
		}
	}
	if s.inline {
		if err := a.fulfil(ctx, order.ID); err != nil {
			a.metrics.jobs.WithLabelValues("inline", "error").Inc()
			a.fail(w, r, err)
			return
		}
		a.metrics.jobs.WithLabelValues("inline", "ok").Inc()
	}
	writeJSON(w, http.StatusCreated, order)
}

func (a *App) createOrder(ctx context.Context, s *settings, in NewOrder, idem *string) (Order, bool, error) {
	q, release, err := a.db.acquire(ctx)
	if err != nil {
		return Order{}, false, err
	}
	defer release()
	var order Order
	created := false
	err = pgx.BeginFunc(ctx, &beginner{q}, func(tx pgx.Tx) error {
		ids := make([]int64, len(in.Items))
		for i, it := range in.Items {
			ids[i] = it.ProductID
		}
		prices := map[int64]Ref{}
		price := map[int64]int64{}
		if s.perRow {
			for _, id := range ids {
				var name string
				var p int64
				err := tx.QueryRow(ctx, "SELECT name, price_cents FROM products WHERE id = $1", id).Scan(&name, &p)
				if errors.Is(err, pgx.ErrNoRows) {
					continue
				}
				if err != nil {
					return fmt.Errorf("product %d: %w", id, err)
				}
				prices[id], price[id] = Ref{ID: id, Name: name}, p
			}
		} else {
			rows, err := tx.Query(ctx, "SELECT id, name, price_cents FROM products WHERE id = ANY($1)", ids)
			if err != nil {
				return fmt.Errorf("products: %w", err)
			}
			for rows.Next() {
				var id, p int64
				var name string
				if err := rows.Scan(&id, &name, &p); err != nil {
					rows.Close()
					return fmt.Errorf("products: %w", err)
				}
				prices[id], price[id] = Ref{ID: id, Name: name}, p
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("products: %w", err)
			}
		}
		order = Order{UserID: in.UserID, Status: "placed"}
		for _, it := range in.Items {
			ref, ok := prices[it.ProductID]
			if !ok {
				return &invalidError{"unknown product_id " + strconv.FormatInt(it.ProductID, 10)}
			}
			order.Items = append(order.Items, OrderItem{ProductID: it.ProductID, ProductName: ref.Name, Quantity: it.Quantity, PriceCents: price[it.ProductID]})
			order.TotalCents += int64(it.Quantity) * price[it.ProductID]
		}
		err := tx.QueryRow(ctx, `INSERT INTO orders (user_id, status, total_cents, idempotency_key) VALUES ($1, $2, $3, $4)
			ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, created_at`,
			order.UserID, order.Status, order.TotalCents, idem).Scan(&order.ID, &order.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			// Another request with the same key won: return its order.
			err := tx.QueryRow(ctx, "SELECT id, user_id, status, total_cents, created_at FROM orders WHERE idempotency_key = $1", idem).
				Scan(&order.ID, &order.UserID, &order.Status, &order.TotalCents, &order.CreatedAt)
			if err != nil {
				return fmt.Errorf("existing order: %w", err)
			}
			items, err := queryItems(ctx, tx, `SELECT i.order_id, i.product_id, p.name, i.quantity, i.price_cents
				FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = $1 ORDER BY i.id`, order.ID)
			if err != nil {
				return err
			}
			order.Items = items[order.ID]
			return nil
		}
		if err != nil {
			return fmt.Errorf("insert order: %w", err)
		}
		if s.perRow {
			for _, it := range order.Items {
				if _, err := tx.Exec(ctx, "INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES ($1, $2, $3, $4)",
					order.ID, it.ProductID, it.Quantity, it.PriceCents); err != nil {
					return fmt.Errorf("insert item: %w", err)
				}
			}
		} else {
			pids, qtys, cents := make([]int64, len(order.Items)), make([]int32, len(order.Items)), make([]int64, len(order.Items))
			for i, it := range order.Items {
				pids[i], qtys[i], cents[i] = it.ProductID, int32(it.Quantity), it.PriceCents
			}
			if _, err := tx.Exec(ctx, `INSERT INTO order_items (order_id, product_id, quantity, price_cents)
				SELECT $1, unnest($2::bigint[]), unnest($3::int[]), unnest($4::bigint[])`, order.ID, pids, qtys, cents); err != nil {
				return fmt.Errorf("insert items: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, "INSERT INTO events (user_id, kind, product_id, created_at, payload) VALUES ($1, 'ordered', $2, $3, $4)",
			order.UserID, order.Items[0].ProductID, order.CreatedAt, `{"order_id":`+strconv.FormatInt(order.ID, 10)+`}`); err != nil {
			return fmt.Errorf("insert event: %w", err)
		}
		if !s.inline {
			if _, err := a.jobs.InsertTx(ctx, tx, fulfilArgs{OrderID: order.ID}, nil); err != nil {
				return fmt.Errorf("enqueue follow-up: %w", err)
			}
		}
		created = true
		return nil
	})
	if err != nil {
		return Order{}, false, err
	}
	return order, created, nil
}

// beginner adapts a querier to pgx.BeginFunc.
type beginner struct{ q querier }

func (b *beginner) Begin(ctx context.Context) (pgx.Tx, error) { return b.q.Begin(ctx) }

func (a *App) getInvoice(w http.ResponseWriter, r *http.Request, _ *settings, pr Principal) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	ctx := r.Context()
	q, release, err := a.db.acquire(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer release()
	var userID int64
	var pdf []byte
	err = q.QueryRow(ctx, "SELECT o.user_id, i.pdf FROM orders o JOIN invoices i ON i.order_id = o.id WHERE o.id = $1", id).Scan(&userID, &pdf)
	if errors.Is(err, pgx.ErrNoRows) {
		a.fail(w, r, errNotFound)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !canAccess(pr, userID) {
		a.fail(w, r, errForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(pdf)
}

// fulfilArgs is the river job of an order's follow-up work.
type fulfilArgs struct {
	OrderID int64 `json:"order_id"`
}

// Kind is the river job kind.
func (fulfilArgs) Kind() string { return "order_fulfilment" }

// fulfilWorker does queued follow-up work. A retry after a partial failure
// may send the e-mail or the webhook again (at least once); the invoice is
// written once.
type fulfilWorker struct {
	river.WorkerDefaults[fulfilArgs]
	a *App
}

func (w *fulfilWorker) Work(ctx context.Context, job *river.Job[fulfilArgs]) error {
	err := w.a.fulfil(withRoute(ctx, "worker"), job.Args.OrderID)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// The job was cancelled (a hard stop: river then makes it available
		// again without counting the attempt) or timed out, and failed for
		// it: say so, river tells the cases apart by the error.
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	w.a.metrics.jobs.WithLabelValues("worker", outcome).Inc()
	return err
}

// fulfil does an order's follow-up work: the confirmation e-mail, the PDF
// invoice (stored in invoices), and the webhook.
func (a *App) fulfil(ctx context.Context, orderID int64) error {
	order, email, name, err := a.orderForFulfilment(ctx, orderID)
	if err != nil {
		return err
	}
	if err := a.sendConfirmation(ctx, order, email, name); err != nil {
		return err
	}
	pdf, err := renderInvoice(order, name)
	if err != nil {
		return err
	}
	q, release, err := a.db.acquire(ctx)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, "INSERT INTO invoices (order_id, pdf) VALUES ($1, $2) ON CONFLICT (order_id) DO NOTHING", orderID, pdf)
	release()
	if err != nil {
		return fmt.Errorf("store invoice: %w", err)
	}
	return a.postWebhook(ctx, order)
}

func (a *App) orderForFulfilment(ctx context.Context, orderID int64) (Order, string, string, error) {
	q, release, err := a.db.acquire(ctx)
	if err != nil {
		return Order{}, "", "", err
	}
	defer release()
	var o Order
	var email, name string
	err = q.QueryRow(ctx, `SELECT o.id, o.user_id, o.status, o.total_cents, o.created_at, u.email, u.name
		FROM orders o JOIN users u ON u.id = o.user_id WHERE o.id = $1`, orderID).
		Scan(&o.ID, &o.UserID, &o.Status, &o.TotalCents, &o.CreatedAt, &email, &name)
	if err != nil {
		return Order{}, "", "", fmt.Errorf("order %d: %w", orderID, err)
	}
	items, err := queryItems(ctx, q, `SELECT i.order_id, i.product_id, p.name, i.quantity, i.price_cents
		FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = $1 ORDER BY i.id`, orderID)
	if err != nil {
		return Order{}, "", "", err
	}
	o.Items = items[orderID]
	return o, email, name, nil
}

// sendConfirmation sends the order confirmation over SMTP (net/smtp) to the
// SMTP sink.
func (a *App) sendConfirmation(ctx context.Context, o Order, to, name string) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", a.SMTPAddr)
	if err != nil {
		return fmt.Errorf("smtp dial: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	// net/smtp knows no context: when ctx is cancelled (a job cancelled by a
	// hard stop), end the conversation at once rather than at the deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	host, _, _ := net.SplitHostPort(a.SMTPAddr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	const from = "orders@sampleapp.example.test"
	if err := c.Hello("sampleapp.example.test"); err != nil {
		return fmt.Errorf("smtp hello: %w", err)
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("smtp mail: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("smtp rcpt: %w", err)
	}
	wc, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: Order #%d confirmed\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", from, to, o.ID)
	fmt.Fprintf(&b, "Hello %s,\r\n\r\nWe received your order #%d:\r\n", name, o.ID)
	for _, it := range o.Items {
		fmt.Fprintf(&b, "  %d x %s  %s\r\n", it.Quantity, it.ProductName, money(it.PriceCents))
	}
	fmt.Fprintf(&b, "Total: %s\r\n", money(o.TotalCents))
	if _, err := io.WriteString(wc, b.String()); err != nil {
		return fmt.Errorf("smtp body: %w", err)
	}
	if err := wc.Close(); err != nil {
		return fmt.Errorf("smtp end of data: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp quit: %w", err)
	}
	return nil
}

func money(cents int64) string { return fmt.Sprintf("%d.%02d EUR", cents/100, cents%100) }

// renderInvoice renders the invoice PDF: a cover with the order summary and
// a table of the items with the conditions of sale, over several pages as a
// real invoice with its terms has.
func renderInvoice(o Order, name string) ([]byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle(fmt.Sprintf("Invoice %d", o.ID), false)
	pdf.SetCreationDate(o.CreatedAt)
	pdf.SetModificationDate(o.CreatedAt)
	pdf.SetFooterFunc(func() {
		pdf.SetY(-15)
		pdf.SetFont("Helvetica", "I", 8)
		pdf.CellFormat(0, 10, fmt.Sprintf("Invoice %d - page %d", o.ID, pdf.PageNo()), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 18)
	pdf.Cell(0, 12, fmt.Sprintf("Invoice #%d", o.ID))
	pdf.Ln(14)
	pdf.SetFont("Helvetica", "", 11)
	pdf.Cell(0, 7, "Billed to: "+name)
	pdf.Ln(7)
	pdf.Cell(0, 7, "Date: "+o.CreatedAt.Format("2006-01-02"))
	pdf.Ln(12)
	header := []string{"#", "Product", "Qty", "Unit price", "Amount"}
	widths := []float64{12, 88, 16, 34, 34}
	pdf.SetFont("Helvetica", "B", 10)
	pdf.SetFillColor(230, 230, 230)
	for i, h := range header {
		pdf.CellFormat(widths[i], 8, h, "1", 0, "C", true, 0, "")
	}
	pdf.Ln(-1)
	pdf.SetFont("Helvetica", "", 10)
	// The items, then a line per tax and discount rule applied to each, as
	// an itemised invoice shows them.
	line := 0
	for _, it := range o.Items {
		for _, rule := range []string{"", "VAT 20%", "Shipping share", "Loyalty discount 0%"} {
			line++
			label := it.ProductName
			amount := int64(it.Quantity) * it.PriceCents
			if rule != "" {
				label = "    " + rule
				amount = amount / 5
			}
			pdf.CellFormat(widths[0], 7, strconv.Itoa(line), "1", 0, "R", false, 0, "")
			pdf.CellFormat(widths[1], 7, label, "1", 0, "L", false, 0, "")
			pdf.CellFormat(widths[2], 7, strconv.Itoa(it.Quantity), "1", 0, "R", false, 0, "")
			pdf.CellFormat(widths[3], 7, money(it.PriceCents), "1", 0, "R", false, 0, "")
			pdf.CellFormat(widths[4], 7, money(amount), "1", 0, "R", false, 0, "")
			pdf.Ln(-1)
		}
	}
	pdf.SetFont("Helvetica", "B", 10)
	pdf.CellFormat(150, 8, "Total", "1", 0, "R", false, 0, "")
	pdf.CellFormat(34, 8, money(o.TotalCents), "1", 0, "R", false, 0, "")
	pdf.Ln(-1)
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 12)
	pdf.Cell(0, 10, "Conditions of sale")
	pdf.Ln(12)
	pdf.SetFont("Times", "", 10)
	for i := 1; i <= 24; i++ {
		pdf.MultiCell(0, 5, fmt.Sprintf("%d. Goods remain the property of the seller until paid in full. Returns are accepted within "+
			"thirty days of delivery in their original packaging. Disputes are settled under the law of the seller's seat. "+
			"Late payment incurs interest at three times the legal rate and a fixed recovery fee.", i), "", "J", false)
		pdf.Ln(2)
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("render invoice: %w", err)
	}
	return buf.Bytes(), nil
}

// postWebhook tells the partner's endpoint about the order.
func (a *App) postWebhook(ctx context.Context, o Order) error {
	body, err := json.Marshal(map[string]any{"type": "order.placed", "order": o})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "order-"+strconv.FormatInt(o.ID, 10))
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("webhook: status %d", resp.StatusCode)
	}
	return nil
}
