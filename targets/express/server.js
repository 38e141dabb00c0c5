'use strict';
// The process that started this one, read before anything slow: see
// exitWithParent.
const startedBy = process.ppid;

// The Express reference target: the FastAPI target's API on node-postgres,
// with prom-client metrics.
//
//   node server.js --dsn DSN [--port 3000] [--profile naive|tuned]
//                  [--knob name=value]... [--pid-dir DIR] [--exit-with-parent]
//
// Knobs (a --knob overrides the profile's value):
//   nplusone         loop | any    GET /posts and /users/:userId/orders: awaits
//                                  in a loop (one query per row) or one = ANY($1)
//   workers          N             node:cluster workers (1: a single process)
//   pool             N             pg Pool max (node-postgres' default is 10)
//   pool_timeout_ms  N             pg Pool connectionTimeoutMillis (0 waits forever)
//   index            missing | present   events (user_id, created_at DESC)
//   cpu_ms           N             crypto.pbkdf2Sync in GET /users/:userId/token,
//                                  which blocks the event loop
//   db_ms            N             a statement of N ms more in GET /users/:userId/events
//
// Routes: /health, /metrics, /users/:userId, /users/:userId/orders,
// /users/:userId/events, /users/:userId/token, /posts?page=N.

const cluster = require('node:cluster');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { parseArgs } = require('node:util');

const express = require('express');
const { Client, Pool, types } = require('pg');
const promClient = require('prom-client');
const { pgConfig } = require('./pgconfig');

const APPLICATION_NAME = 'advisor-target-express';
const PAGE_SIZE = 20;
const INDEX_NAME = 'events_user_id_created_at_idx';

const PROFILES = {
  naive: { nplusone: 'loop', workers: '1', pool: '2', pool_timeout_ms: '0', index: 'missing', cpu_ms: '20', db_ms: '0' },
  tuned: { nplusone: 'any', workers: '2', pool: '10', pool_timeout_ms: '0', index: 'present', cpu_ms: '0', db_ms: '0' },
};
const CHOICES = { nplusone: ['loop', 'any'], index: ['missing', 'present'] };
const NUMBERS = { workers: 1, pool: 1, pool_timeout_ms: 0, cpu_ms: 0, db_ms: 0 }; // knob: its minimum

class UsageError extends Error {}

// bigint columns as numbers (node-postgres gives strings): the ids here are small.
types.setTypeParser(types.builtins.INT8, (v) => Number(v));

// parseKnobs returns the profile's knobs with the name=value overrides.
function parseKnobs(profile, overrides) {
  if (!PROFILES[profile]) throw new UsageError(`unknown profile ${JSON.stringify(profile)} (naive or tuned)`);
  const knobs = { ...PROFILES[profile] };
  for (const item of overrides) {
    const eq = item.indexOf('=');
    if (eq < 0) throw new UsageError(`knob ${JSON.stringify(item)} is not name=value`);
    const name = item.slice(0, eq);
    if (!(name in knobs)) {
      throw new UsageError(`unknown knob ${JSON.stringify(name)} (known: ${Object.keys(knobs).sort().join(', ')})`);
    }
    knobs[name] = item.slice(eq + 1);
  }
  for (const [name, allowed] of Object.entries(CHOICES)) {
    if (!allowed.includes(knobs[name])) {
      throw new UsageError(`knob ${name}=${knobs[name]}: want one of ${allowed.join(', ')}`);
    }
  }
  for (const [name, least] of Object.entries(NUMBERS)) {
    const n = Number(knobs[name]);
    if (!Number.isInteger(n) || n < least) {
      throw new UsageError(`knob ${name}=${knobs[name]}: want an integer of at least ${least}`);
    }
    knobs[name] = n;
  }
  return knobs;
}

// applyIndexKnob creates or drops the index GET /users/:userId/events needs:
// the target's own DDL on its own test database.
async function applyIndexKnob(dsn, index) {
  const client = new Client(pgConfig(dsn, `${APPLICATION_NAME}-setup`));
  await client.connect();
  try {
    if (index === 'present') {
      await client.query(`CREATE INDEX IF NOT EXISTS ${INDEX_NAME} ON events (user_id, created_at DESC)`);
    } else {
      await client.query(`DROP INDEX IF EXISTS ${INDEX_NAME}`);
    }
  } finally {
    await client.end();
  }
}

// burnCPU spends about ms of CPU in pbkdf2Sync, on the event loop's thread:
// nothing else in this process runs meanwhile.
function burnCPU(ms, seed) {
  const start = process.cpuUsage();
  let key = Buffer.from(seed);
  for (;;) {
    key = crypto.pbkdf2Sync(key, 'advisor', 200, 32, 'sha256');
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return key.toString('hex');
  }
}

// metrics registers the HTTP metrics beside prom-client's default ones and
// returns the middleware that records them.
function metrics() {
  promClient.collectDefaultMetrics();
  // prom-client 15 has no event loop utilization metric: this gauge gives the
  // share of time the loop was busy since the previous scrape (0..1).
  let lastELU = performance.eventLoopUtilization();
  new promClient.Gauge({
    name: 'nodejs_eventloop_utilization',
    help: 'Share of time the event loop was busy since the previous scrape (0..1).',
    aggregator: 'average',
    collect() {
      const now = performance.eventLoopUtilization();
      this.set(performance.eventLoopUtilization(now, lastELU).utilization);
      lastELU = now;
    },
  });
  const duration = new promClient.Histogram({
    name: 'http_request_duration_seconds',
    help: 'Duration of HTTP requests in seconds.',
    labelNames: ['method', 'route', 'status_code'],
  });
  const total = new promClient.Counter({
    name: 'http_requests_total',
    help: 'Total number of HTTP requests.',
    labelNames: ['method', 'route', 'status_code'],
  });
  return (req, res, next) => {
    const end = duration.startTimer();
    res.on('finish', () => {
      // The route's template once routing is done; no route: "unmatched".
      const route = req.route ? req.baseUrl + req.route.path : 'unmatched';
      const labels = { method: req.method, route, status_code: String(res.statusCode) };
      end(labels);
      total.inc(labels);
    });
    next();
  };
}

// metricsHandler answers /metrics from this process's registry, or with the
// sum over the cluster's workers, which the primary gathers.
function metricsHandler(clustered) {
  if (!clustered) {
    return async (req, res) => {
      res.set('Content-Type', promClient.register.contentType);
      res.end(await promClient.register.metrics());
    };
  }
  // Answer the primary's requests for this worker's metrics.
  new promClient.AggregatorRegistry(); // eslint-disable-line no-new
  const pending = new Map();
  let nextID = 0;
  process.on('message', (msg) => {
    if (msg && msg.type === 'advisor-target:metrics-reply' && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  return (req, res) => {
    const id = nextID++;
    pending.set(id, (msg) => {
      if (msg.error) {
        res.status(500).type('text/plain').send(msg.error);
        return;
      }
      res.set('Content-Type', msg.contentType);
      res.end(msg.text);
    });
    process.send({ type: 'advisor-target:metrics', id });
  };
}

function createApp(pool, knobs, clustered) {
  const app = express();
  app.disable('x-powered-by');
  app.use(metrics());

  const userID = (req) => {
    const id = Number(req.params.userId);
    return Number.isSafeInteger(id) ? id : 0;
  };

  app.get('/health', async (req, res) => {
    await pool.query('SELECT 1');
    res.json({ status: 'ok', pid: process.pid });
  });

  app.get('/metrics', metricsHandler(clustered));

  app.get('/users/:userId', async (req, res) => {
    const { rows } = await pool.query('SELECT id, name, email FROM users WHERE id = $1', [userID(req)]);
    if (rows.length === 0) return res.status(404).json({ detail: 'no such user' });
    res.json(rows[0]);
  });

  app.get('/posts', async (req, res) => {
    const page = Math.max(Number.parseInt(req.query.page, 10) || 1, 1);
    const { rows: posts } = await pool.query(
      'SELECT id, author_id, title, body FROM posts ORDER BY id DESC LIMIT $1 OFFSET $2',
      [PAGE_SIZE, (page - 1) * PAGE_SIZE],
    );
    if (knobs.nplusone === 'loop') {
      // One query per post for its author and one for its comments.
      for (const p of posts) {
        p.author = (await pool.query('SELECT id, name, email FROM users WHERE id = $1', [p.author_id])).rows[0];
        p.comments = (
          await pool.query('SELECT id, body, author_id FROM comments WHERE post_id = $1 ORDER BY id', [p.id])
        ).rows;
      }
    } else {
      const [authors, comments] = await Promise.all([
        pool.query('SELECT id, name, email FROM users WHERE id = ANY($1)', [posts.map((p) => p.author_id)]),
        pool.query('SELECT id, post_id, body, author_id FROM comments WHERE post_id = ANY($1) ORDER BY id', [
          posts.map((p) => p.id),
        ]),
      ]);
      const byID = new Map(authors.rows.map((u) => [u.id, u]));
      for (const p of posts) {
        p.author = byID.get(p.author_id);
        p.comments = comments.rows.filter((c) => c.post_id === p.id);
      }
    }
    res.json(
      posts.map((p) => ({
        id: p.id,
        title: p.title,
        author: p.author,
        comments: p.comments.map((c) => ({ id: c.id, body: c.body, author_id: c.author_id })),
      })),
    );
  });

  app.get('/users/:userId/orders', async (req, res) => {
    const { rows: orders } = await pool.query(
      'SELECT id, status, total_cents FROM orders WHERE user_id = $1 ORDER BY created_at DESC',
      [userID(req)],
    );
    if (knobs.nplusone === 'loop') {
      for (const o of orders) {
        o.items = (
          await pool.query(
            'SELECT sku, quantity, price_cents FROM order_items WHERE order_id = $1 ORDER BY id',
            [o.id],
          )
        ).rows;
      }
    } else if (orders.length > 0) {
      const { rows: items } = await pool.query(
        'SELECT order_id, sku, quantity, price_cents FROM order_items WHERE order_id = ANY($1) ORDER BY id',
        [orders.map((o) => o.id)],
      );
      for (const o of orders) {
        o.items = items
          .filter((i) => i.order_id === o.id)
          .map((i) => ({ sku: i.sku, quantity: i.quantity, price_cents: i.price_cents }));
      }
    }
    res.json(orders);
  });

  app.get('/users/:userId/events', async (req, res) => {
    // WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20: a scan of the
    // whole table without events (user_id, created_at DESC).
    if (knobs.db_ms > 0) {
      // A statement that takes db_ms in PostgreSQL, as a report query or a
      // slower data set would: it holds one of the pool's clients meanwhile.
      await pool.query('SELECT pg_sleep($1)', [knobs.db_ms / 1000]);
    }
    const { rows } = await pool.query(
      'SELECT id, kind, created_at FROM events WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2',
      [userID(req), PAGE_SIZE],
    );
    res.json(rows.map((e) => ({ id: e.id, kind: e.kind, at: e.created_at })));
  });

  app.get('/users/:userId/token', async (req, res) => {
    const { rows } = await pool.query('SELECT email FROM users WHERE id = $1', [userID(req)]);
    if (rows.length === 0) return res.status(404).json({ detail: 'no such user' });
    res.json({ user_id: userID(req), token: burnCPU(knobs.cpu_ms, rows[0].email) });
  });

  // Express 5 passes a rejected handler promise here.
  app.use((err, req, res, next) => { // eslint-disable-line no-unused-vars
    console.error(`${req.method} ${req.path}: ${err.message}`);
    res.status(500).json({ detail: err.message });
  });
  return app;
}

// serve runs the HTTP server in this process (the single process, or one
// cluster worker).
function serve(cfg) {
  const clustered = cluster.isWorker;
  const pool = new Pool({
    ...pgConfig(cfg.dsn, APPLICATION_NAME),
    max: cfg.knobs.pool,
    connectionTimeoutMillis: cfg.knobs.pool_timeout_ms,
  });
  pool.on('error', (err) => console.error(`pool: ${err.message}`));
  const app = createApp(pool, cfg.knobs, clustered);
  const server = app.listen(cfg.port, cfg.host, () => {
    if (cfg.pidDir) fs.writeFileSync(path.join(cfg.pidDir, String(process.pid)), '');
  });
  server.on('error', (err) => {
    console.error(`listen: ${err.message}`);
    process.exit(1);
  });
  process.on('exit', () => {
    if (cfg.pidDir) fs.rmSync(path.join(cfg.pidDir, String(process.pid)), { force: true });
  });
  const stop = () => {
    server.close();
    server.closeAllConnections();
    pool.end().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// primary forks the workers, restarts none, answers their requests for the
// cluster's metrics, and stops them on SIGTERM.
function primary(cfg) {
  const aggregator = new promClient.AggregatorRegistry();
  for (let i = 0; i < cfg.knobs.workers; i++) cluster.fork({ ADVISOR_TARGET_CONFIG: JSON.stringify(cfg) });
  cluster.on('message', (worker, msg) => {
    if (!msg || msg.type !== 'advisor-target:metrics') return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: 'advisor-target:metrics-reply', id: msg.id, text, contentType: aggregator.contentType }),
      (err) => worker.send({ type: 'advisor-target:metrics-reply', id: msg.id, error: err.message }),
    );
  });
  let stopping = false;
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) console.error(`worker ${worker.process.pid} exited (${signal || code})`);
    if (Object.keys(cluster.workers).length === 0) process.exit(stopping ? 0 : 1);
  });
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// exitWithParent exits when the process parent, which started this one, is
// gone (a test that died without stopping it), checked now and once a second.
function exitWithParent(parent) {
  const check = () => {
    if (currentParent() !== parent) process.exit(1);
  };
  check();
  setInterval(check, 1000).unref();
}

// currentParent returns this process's parent now (process.ppid is the one
// it had at start), from /proc where there is one.
function currentParent() {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return process.ppid;
  }
}

async function main() {
  if (cluster.isWorker) {
    const cfg = JSON.parse(process.env.ADVISOR_TARGET_CONFIG);
    if (cfg.exitWithParent) exitWithParent(cfg.primaryPid);
    serve(cfg);
    return;
  }
  const { values } = parseArgs({
    options: {
      dsn: { type: 'string', default: process.env.DATABASE_URL },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '3000' },
      profile: { type: 'string', default: 'naive' },
      knob: { type: 'string', multiple: true, default: [] },
      'pid-dir': { type: 'string' },
      'exit-with-parent': { type: 'boolean', default: false },
    },
  });
  if (!values.dsn) throw new UsageError('--dsn (or DATABASE_URL) is required');
  const cfg = {
    dsn: values.dsn,
    host: values.host,
    port: Number(values.port),
    knobs: parseKnobs(values.profile, values.knob),
    pidDir: values['pid-dir'] || '',
    exitWithParent: values['exit-with-parent'],
    primaryPid: process.pid,
  };
  try {
    pgConfig(cfg.dsn, APPLICATION_NAME); // a bad URL fails here, once
  } catch (err) {
    throw new UsageError(err.message);
  }
  if (cfg.exitWithParent) exitWithParent(startedBy);
  await applyIndexKnob(cfg.dsn, cfg.knobs.index);
  if (cfg.knobs.workers > 1) {
    primary(cfg);
  } else {
    serve(cfg);
  }
}

main().catch((err) => {
  console.error(`server.js: ${err.message}`);
  process.exit(err instanceof UsageError || String(err.code).startsWith('ERR_PARSE_ARGS') ? 2 : 1);
});
