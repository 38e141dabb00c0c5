package sampleapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Token scopes.
const (
	scopeUser  = "user"
	scopeStaff = "staff"
)

var (
	errNotFound     = errors.New("not found")
	errUnauthorized = errors.New("missing, unknown or expired bearer token")
)

// Principal is who a bearer token stands for.
type Principal struct {
	UserID int64  `json:"user_id"`
	Scope  string `json:"scope"`
}

// originHeader carries the route of the API request that caused an internal
// call, as tracing baggage would, so that the identity and users services
// count their queries for it.
const originHeader = "X-Origin-Route"

// identityService checks bearer tokens against the tokens table.
type identityService struct{ a *App }

func (s identityService) introspect(ctx context.Context, token string) (Principal, error) {
	q, release, err := s.a.db.acquire(ctx)
	if err != nil {
		return Principal{}, err
	}
	defer release()
	var p Principal
	err = q.QueryRow(ctx, "SELECT user_id, scope FROM tokens WHERE token = $1 AND expires_at > now()", token).Scan(&p.UserID, &p.Scope)
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, errUnauthorized
	}
	if err != nil {
		return Principal{}, fmt.Errorf("token lookup: %w", err)
	}
	return p, nil
}

func (a *App) identityHandler() http.Handler {
	mux := http.NewServeMux()
	a.handleInternal(mux, "GET /v1/introspect", func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, errUnauthorized.Error())
			return
		}
		p, err := a.identity.introspect(r.Context(), token)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
	return mux
}

// authenticate checks the request's bearer token with the identity service,
// over HTTP or in-process as the hops knob says, through the short-lived
// token cache when the cache knob is on.
func (a *App) authenticate(ctx context.Context, s *settings, r *http.Request) (Principal, error) {
	token, ok := bearer(r)
	if !ok {
		return Principal{}, errUnauthorized
	}
	if s.cache {
		if p, ok := a.tokens.get(token); ok {
			return p, nil
		}
	}
	var p Principal
	var err error
	if s.hopsHTTP {
		err = a.callService(ctx, a.IdentityURL+"/v1/introspect", r.Header.Get("Authorization"), &p)
	} else {
		p, err = a.identity.introspect(ctx, token)
	}
	if err != nil {
		return Principal{}, err
	}
	if s.cache {
		a.tokens.put(token, p)
	}
	return p, nil
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return "", false
	}
	return token, true
}

// callService GETs an internal service's JSON answer into v, mapping 401 and
// 404 back to the errors the in-process call would give.
func (a *App) callService(ctx context.Context, url, auth string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set(originHeader, routeOf(ctx))
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("call %s: %w", url, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			return fmt.Errorf("call %s: decode: %w", url, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	case http.StatusUnauthorized:
		return errUnauthorized
	case http.StatusNotFound:
		return errNotFound
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("call %s: status %d: %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
}

// Profile is a user with profile and preferences, as the users service
// returns it.
type Profile struct {
	ID          int64       `json:"id"`
	Name        string      `json:"name"`
	Email       string      `json:"email"`
	DisplayName string      `json:"display_name"`
	Bio         string      `json:"bio"`
	AvatarURL   string      `json:"avatar_url"`
	Location    string      `json:"location"`
	Preferences Preferences `json:"preferences"`
}

// Preferences are a user's settings.
type Preferences struct {
	Locale     string `json:"locale"`
	Timezone   string `json:"timezone"`
	Theme      string `json:"theme"`
	EmailOptIn bool   `json:"email_opt_in"`
}

// profileTTL is how long a cached profile lives: profiles change rarely and
// a few minutes of staleness is acceptable for them.
const profileTTL = 5 * time.Minute

// usersService reads profiles and preferences, cache-aside in Redis when the
// cache knob is on.
type usersService struct{ a *App }

func (s usersService) profile(ctx context.Context, st *settings, id int64) (Profile, error) {
	var key string
	if st.cache {
		key = s.a.cacheKey("profile", id)
		if b, ok := s.a.cache.get(ctx, key); ok {
			var p Profile
			if err := json.Unmarshal(b, &p); err == nil {
				return p, nil
			}
		}
	}
	q, release, err := s.a.db.acquire(ctx)
	if err != nil {
		return Profile{}, err
	}
	defer release()
	var p Profile
	pr := &p.Preferences
	switch {
	case !st.perRow:
		// One join for the user, the profile and the preferences.
		err = q.QueryRow(ctx, `SELECT u.id, u.name, u.email, p.display_name, p.bio, p.avatar_url, p.location,
			coalesce(f.locale, ''), coalesce(f.timezone, ''), coalesce(f.theme, ''), coalesce(f.email_opt_in, false)
			FROM users u JOIN profiles p ON p.user_id = u.id LEFT JOIN preferences f ON f.user_id = u.id WHERE u.id = $1`, id).
			Scan(&p.ID, &p.Name, &p.Email, &p.DisplayName, &p.Bio, &p.AvatarURL, &p.Location, &pr.Locale, &pr.Timezone, &pr.Theme, &pr.EmailOptIn)
	case st.selectStar:
		var created time.Time
		err = q.QueryRow(ctx, "SELECT * FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.id = $1", id).
			Scan(&p.ID, &p.Name, &p.Email, &created, new(int64), &p.DisplayName, &p.Bio, &p.AvatarURL, &p.Location)
	default:
		err = q.QueryRow(ctx, `SELECT u.id, u.name, u.email, p.display_name, p.bio, p.avatar_url, p.location
			FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.id = $1`, id).
			Scan(&p.ID, &p.Name, &p.Email, &p.DisplayName, &p.Bio, &p.AvatarURL, &p.Location)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return Profile{}, errNotFound
	}
	if err != nil {
		return Profile{}, fmt.Errorf("load profile: %w", err)
	}
	if st.perRow {
		// The preferences in a query of their own, as a separate repository
		// would fetch them.
		err = q.QueryRow(ctx, "SELECT locale, timezone, theme, email_opt_in FROM preferences WHERE user_id = $1", id).
			Scan(&pr.Locale, &pr.Timezone, &pr.Theme, &pr.EmailOptIn)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return Profile{}, fmt.Errorf("load preferences: %w", err)
		}
	}
	if st.cache {
		if b, err := json.Marshal(p); err == nil {
			s.a.cache.set(ctx, key, b, profileTTL)
		}
	}
	return p, nil
}

func (a *App) usersHandler() http.Handler {
	mux := http.NewServeMux()
	a.handleInternal(mux, "GET /v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			writeError(w, http.StatusBadRequest, "user id must be a positive integer")
			return
		}
		p, err := a.users.profile(r.Context(), a.settings.Load(), id)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
	return mux
}

// profile gets a user's profile from the users service, over HTTP or
// in-process as the hops knob says.
func (a *App) profile(ctx context.Context, s *settings, r *http.Request, id int64) (Profile, error) {
	if s.hopsHTTP {
		var p Profile
		err := a.callService(ctx, a.UsersURL+"/v1/users/"+strconv.FormatInt(id, 10), r.Header.Get("Authorization"), &p)
		return p, err
	}
	return a.users.profile(ctx, s, id)
}

func (a *App) cacheKey(kind string, id int64) string {
	return a.cfg.CacheNamespace + ":g" + strconv.FormatInt(a.cacheGen.Load(), 10) + ":" + kind + ":" + strconv.FormatInt(id, 10)
}

// tokenCache remembers token checks for a short while, as services do to
// spare the identity service a call per request. It is bounded: when full it
// starts over.
type tokenCache struct {
	ttl time.Duration
	max int
	mu  sync.RWMutex
	m   map[string]tokenEntry
}

type tokenEntry struct {
	p       Principal
	expires time.Time
}

func newTokenCache(ttl time.Duration, max int) *tokenCache {
	return &tokenCache{ttl: ttl, max: max, m: map[string]tokenEntry{}}
}

func (c *tokenCache) get(token string) (Principal, bool) {
	c.mu.RLock()
	e, ok := c.m[token]
	c.mu.RUnlock()
	if !ok || time.Now().After(e.expires) {
		return Principal{}, false
	}
	return e.p, true
}

func (c *tokenCache) put(token string, p Principal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.m = map[string]tokenEntry{}
	}
	c.m[token] = tokenEntry{p: p, expires: time.Now().Add(c.ttl)}
}

// auditRecord is one line of the audit log: who called which route when.
type auditRecord struct {
	userID int64
	route  string
	at     time.Time
}

// auditWriter writes the audit log in batches, off the request path.
type auditWriter struct {
	db      *database
	log     *slog.Logger
	ch      chan auditRecord
	dropped atomic.Int64
}

func newAuditWriter(db *database, log *slog.Logger) *auditWriter {
	return &auditWriter{db: db, log: log, ch: make(chan auditRecord, 8192)}
}

// add queues a record; when the writer is too far behind the record is
// dropped rather than slowing requests down.
func (w *auditWriter) add(rec auditRecord) {
	select {
	case w.ch <- rec:
	default:
		w.dropped.Add(1)
	}
}

// run writes batches every 250 ms until ctx is done, then flushes the rest.
func (w *auditWriter) run(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var batch [][]any
	flush := func() {
		if len(batch) == 0 {
			return
		}
		fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q, release, err := w.db.acquire(fctx)
		if err == nil {
			type copier interface {
				CopyFrom(ctx context.Context, t pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
			}
			if c, ok := q.(copier); ok {
				_, err = c.CopyFrom(fctx, pgx.Identifier{"audit_log"}, []string{"user_id", "route", "at"}, pgx.CopyFromRows(batch))
			}
			release()
		}
		if err != nil {
			w.log.Warn("audit log write failed", "records", len(batch), "err", err)
		}
		batch = batch[:0]
	}
	for {
		select {
		case rec := <-w.ch:
			batch = append(batch, []any{rec.userID, rec.route, rec.at})
			if len(batch) >= 2000 {
				flush()
			}
		case <-tick.C:
			flush()
		case <-ctx.Done():
			for {
				select {
				case rec := <-w.ch:
					batch = append(batch, []any{rec.userID, rec.route, rec.at})
				default:
					flush()
					return
				}
			}
		}
	}
}

// recordAudit writes the audit record of a request: under the process-wide
// mutex with a synchronous INSERT when the lock knob is global, or queued for
// the batch writer when it is none.
func (a *App) recordAudit(ctx context.Context, s *settings, userID int64, route string) error {
	rec := auditRecord{userID: userID, route: route, at: time.Now()}
	if !s.globalLock {
		a.audit.add(rec)
		return nil
	}
	a.auditMu.Lock()
	defer a.auditMu.Unlock()
	q, release, err := a.db.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	if _, err := q.Exec(ctx, "INSERT INTO audit_log (user_id, route, at) VALUES ($1, $2, $3)", rec.userID, rec.route, rec.at); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// nearCache keeps encoded answers by id for a short TTL, in front of Redis.
// It is sharded to keep lock contention low, and bounded: a full shard starts
// over. Entries carry the cache generation they were written in.
type nearCache struct {
	ttl    time.Duration
	max    int
	shards [16]nearShard
}

type nearShard struct {
	mu sync.RWMutex
	m  map[int64]nearEntry
}

type nearEntry struct {
	gen     int64
	b       []byte
	expires int64 // unix nanoseconds
}

func newNearCache(ttl time.Duration, max int) *nearCache {
	c := &nearCache{ttl: ttl, max: max / 16}
	for i := range c.shards {
		c.shards[i].m = map[int64]nearEntry{}
	}
	return c
}

func (c *nearCache) shard(id int64) *nearShard { return &c.shards[uint64(id)%uint64(len(c.shards))] }

func (c *nearCache) get(gen, id int64) ([]byte, bool) {
	s := c.shard(id)
	s.mu.RLock()
	e, ok := s.m[id]
	s.mu.RUnlock()
	if !ok || e.gen != gen || time.Now().UnixNano() > e.expires {
		return nil, false
	}
	return e.b, true
}

func (c *nearCache) put(gen, id int64, b []byte) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.max {
		s.m = map[int64]nearEntry{}
	}
	s.m[id] = nearEntry{gen: gen, b: b, expires: time.Now().Add(c.ttl).UnixNano()}
}

func (c *nearCache) drop(id int64) {
	s := c.shard(id)
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}
