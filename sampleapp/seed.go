package sampleapp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Size is the size of a seeded data set.
type Size struct {
	Users    int64
	Events   int64
	Products int64
	Orders   int64
	// PayloadBytes is the mean size of events.payload, the wide column that
	// SELECT * drags along. Above 2 kB so that PostgreSQL moves it out of
	// line (TOAST): the heap stays narrow and a sequential scan of events
	// costs tens of milliseconds, while fetching the payload costs extra.
	PayloadBytes int
}

// DefaultSize is the data set of the benchmarks: a sequential scan of events
// costs tens of milliseconds.
var DefaultSize = Size{Users: 20_000, Events: 1_000_000, Products: 2_000, Orders: 100_000, PayloadBytes: 2_600}

// TestSize is a small data set for tests.
var TestSize = Size{Users: 2_000, Events: 50_000, Products: 500, Orders: 6_000, PayloadBytes: 2_600}

func (s Size) String() string {
	return fmt.Sprintf("users=%d events=%d products=%d orders=%d payload=%dB",
		s.Users, s.Events, s.Products, s.Orders, s.PayloadBytes)
}

// LoadTestToken is the bearer token the seed creates for load generators: a
// staff token of user 1 that may read every user's data and place orders for
// any user. It never expires.
const LoadTestToken = "sampleapp-load-test-token"

// UserToken is the bearer token the seed creates for user id: it may read
// public data and its own orders, and place orders for itself.
func UserToken(id int64) string { return "sampleapp-user-" + strconv.FormatInt(id, 10) }

// ErrSeededDifferently is returned by Seed when the database already holds a
// data set of another size.
var ErrSeededDifferently = errors.New("database already seeded with another size")

// SeedResult says what Seed did.
type SeedResult struct {
	// Already is true when the database was already seeded with this size
	// and nothing was written.
	Already bool
	Size    Size
	Elapsed time.Duration
}

// Seed migrates the database dsn names and loads a data set of the given size
// with COPY. It is idempotent: a database seeded with the same size is left
// alone (Already); one seeded with another size gives ErrSeededDifferently
// unless reset is true, in which case the data is truncated and reloaded.
func Seed(ctx context.Context, dsn string, size Size, reset bool) (SeedResult, error) {
	start := time.Now()
	if size.Users < 2 || size.Products < 1 || size.Events < 0 || size.Orders < 0 {
		return SeedResult{}, fmt.Errorf("seed size %v: need at least 2 users and 1 product", size)
	}
	if size.PayloadBytes <= 0 {
		size.PayloadBytes = DefaultSize.PayloadBytes
	}
	if err := Migrate(ctx, dsn); err != nil {
		return SeedResult{}, err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return SeedResult{}, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())

	var have Size
	err = conn.QueryRow(ctx, "SELECT users, events, products, orders, payload FROM seed_info WHERE id = 1").
		Scan(&have.Users, &have.Events, &have.Products, &have.Orders, &have.PayloadBytes)
	switch {
	case err == nil && have == size:
		return SeedResult{Already: true, Size: size, Elapsed: time.Since(start)}, nil
	case err == nil && !reset:
		return SeedResult{Size: have}, fmt.Errorf("%w: it holds %v, asked for %v (reseed with reset)", ErrSeededDifferently, have, size)
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return SeedResult{}, fmt.Errorf("read seed_info: %w", err)
	}
	if _, err := conn.Exec(ctx, `TRUNCATE seed_info, invoices, order_items, orders, events, audit_log, tokens,
		preferences, profiles, products, users RESTART IDENTITY CASCADE`); err != nil {
		return SeedResult{}, fmt.Errorf("truncate: %w", err)
	}
	if err := copyAll(ctx, conn, size); err != nil {
		return SeedResult{}, err
	}
	for _, q := range []string{
		"SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM events), false)",
		"SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM orders), false)",
		"SELECT setval(pg_get_serial_sequence('order_items', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM order_items), false)",
		"VACUUM ANALYZE",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return SeedResult{}, fmt.Errorf("after copy: %s: %w", q, err)
		}
	}
	if _, err := conn.Exec(ctx, "INSERT INTO seed_info (id, users, events, products, orders, payload) VALUES (1, $1, $2, $3, $4, $5)",
		size.Users, size.Events, size.Products, size.Orders, size.PayloadBytes); err != nil {
		return SeedResult{}, fmt.Errorf("record seed_info: %w", err)
	}
	return SeedResult{Size: size, Elapsed: time.Since(start)}, nil
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Dennis", "Margaret", "Linus", "Radia", "Donald", "Frances"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Ritchie", "Hamilton", "Torvalds", "Perlman", "Knuth", "Allen"}
	adjectives = []string{"Compact", "Durable", "Wireless", "Ergonomic", "Modular", "Silent", "Portable", "Smart"}
	nouns      = []string{"Keyboard", "Monitor", "Router", "Lamp", "Backpack", "Kettle", "Headset", "Charger", "Chair", "Camera"}
	locales    = []string{"en-GB", "en-US", "fr-FR", "de-DE", "es-ES", "it-IT", "pt-BR", "ja-JP"}
	timezones  = []string{"Europe/London", "America/New_York", "Europe/Paris", "Europe/Berlin", "Asia/Tokyo", "America/Sao_Paulo"}
	// productKinds point at a product, actorKinds at another user.
	productKinds = []string{"viewed", "purchased", "reviewed", "wishlisted"}
	actorKinds   = []string{"followed", "mentioned"}
)

func userName(id int64) string {
	return firstNames[id%int64(len(firstNames))] + " " + lastNames[(id/int64(len(firstNames)))%int64(len(lastNames))] + " #" + strconv.FormatInt(id, 10)
}

func productName(id int64) string {
	return adjectives[id%int64(len(adjectives))] + " " + nouns[(id/7)%int64(len(nouns))] + " " + strconv.FormatInt(id, 10)
}

func productPrice(id int64) int64 { return 499 + (id*7919)%45_000 }

// payloads builds n distinct event payloads of about size bytes: JSON that
// compresses a little, as real event bodies do.
func payloads(r *rand.Rand, n, size int) []string {
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		b.WriteString(`{"client":{"ua":"Mozilla/5.0 (X11; Linux x86_64)","ip":"198.51.100.`)
		b.WriteString(strconv.Itoa(r.IntN(250)))
		b.WriteString(`"},"attributes":[`)
		target := size + r.IntN(size/4+1) - size/8
		for j := 0; b.Len() < target-40; j++ {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"k":"attr_%d","v":"%x","w":%d}`, j, r.Uint64(), r.IntN(100000))
		}
		b.WriteString(`]}`)
		out[i] = b.String()
	}
	return out
}

func copyAll(ctx context.Context, conn *pgx.Conn, size Size) error {
	r := rand.New(rand.NewPCG(42, uint64(size.Users)))
	now := time.Now().UTC().Truncate(time.Second)
	copyN := func(table string, cols []string, n int64, row func(i int64) []any) error {
		var i int64
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if i >= n {
				return nil, nil
			}
			i++
			return row(i), nil
		})
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, src); err != nil {
			return fmt.Errorf("copy %s: %w", table, err)
		}
		return nil
	}
	if err := copyN("users", []string{"id", "name", "email", "created_at"}, size.Users, func(i int64) []any {
		return []any{i, userName(i), "user" + strconv.FormatInt(i, 10) + "@example.test", now.Add(-time.Duration(i) * time.Minute)}
	}); err != nil {
		return err
	}
	if err := copyN("profiles", []string{"user_id", "display_name", "bio", "avatar_url", "location"}, size.Users, func(i int64) []any {
		return []any{i, userName(i), "Writes about databases and queues. Member #" + strconv.FormatInt(i, 10) + ".",
			"https://cdn.example.test/avatars/" + strconv.FormatInt(i, 10) + ".png", timezones[i%int64(len(timezones))]}
	}); err != nil {
		return err
	}
	if err := copyN("preferences", []string{"user_id", "locale", "timezone", "theme", "email_opt_in"}, size.Users, func(i int64) []any {
		return []any{i, locales[i%int64(len(locales))], timezones[i%int64(len(timezones))], []string{"light", "dark"}[i%2], i%3 != 0}
	}); err != nil {
		return err
	}
	far := now.AddDate(100, 0, 0)
	if err := copyN("tokens", []string{"token", "user_id", "scope", "expires_at"}, size.Users+1, func(i int64) []any {
		if i == size.Users+1 {
			return []any{LoadTestToken, int64(1), scopeStaff, far}
		}
		return []any{UserToken(i), i, scopeUser, far}
	}); err != nil {
		return err
	}
	if err := copyN("products", []string{"id", "name", "sku", "price_cents", "description"}, size.Products, func(i int64) []any {
		return []any{i, productName(i), fmt.Sprintf("SKU-%06d", i), productPrice(i), "A " + strings.ToLower(productName(i)) + " that does what it says."}
	}); err != nil {
		return err
	}
	pl := payloads(r, 512, size.PayloadBytes)
	span := int64(90 * 24 * time.Hour / time.Second)
	if err := copyN("events", []string{"user_id", "kind", "product_id", "actor_id", "created_at", "payload"}, size.Events, func(i int64) []any {
		user := 1 + r.Int64N(size.Users)
		at := now.Add(-time.Duration(r.Int64N(span)) * time.Second)
		var product, actor *int64
		var kind string
		if r.IntN(4) == 0 {
			kind = actorKinds[r.IntN(len(actorKinds))]
			a := 1 + r.Int64N(size.Users)
			actor = &a
		} else {
			kind = productKinds[r.IntN(len(productKinds))]
			p := 1 + r.Int64N(size.Products)
			product = &p
		}
		return []any{user, kind, product, actor, at, pl[r.IntN(len(pl))]}
	}); err != nil {
		return err
	}
	type item struct{ order, product, qty, price int64 }
	var items []item
	if err := copyN("orders", []string{"id", "user_id", "status", "total_cents", "created_at"}, size.Orders, func(i int64) []any {
		n := 1 + r.Int64N(4)
		var total int64
		for j := int64(0); j < n; j++ {
			p := 1 + r.Int64N(size.Products)
			q := 1 + r.Int64N(3)
			items = append(items, item{i, p, q, productPrice(p)})
			total += q * productPrice(p)
		}
		return []any{i, 1 + r.Int64N(size.Users), "fulfilled", total, now.Add(-time.Duration(r.Int64N(span)) * time.Second)}
	}); err != nil {
		return err
	}
	return copyN("order_items", []string{"id", "order_id", "product_id", "quantity", "price_cents"}, int64(len(items)), func(i int64) []any {
		it := items[i-1]
		return []any{i, it.order, it.product, it.qty, it.price}
	})
}
