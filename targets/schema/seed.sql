-- The reference targets' schema and data set, shared by the FastAPI and the
-- Express target. Each target's seed command replaces the {name} placeholders
-- with the integers of the chosen size (sizes.json) and runs this script in
-- one transaction. Seeding again starts over.
--
-- The index the "index" knob creates or drops is not here:
--   events_user_id_created_at_idx ON events (user_id, created_at DESC)
-- Without it, GET /users/{id}/events scans the whole events table.

DROP TABLE IF EXISTS order_items, orders, comments, posts, events, users, seed_info CASCADE;

CREATE TABLE users (
	id         bigint PRIMARY KEY,
	name       text NOT NULL,
	email      text NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE TABLE posts (
	id         bigint PRIMARY KEY,
	author_id  bigint NOT NULL,
	title      text NOT NULL,
	body       text NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE TABLE comments (
	id         bigint PRIMARY KEY,
	post_id    bigint NOT NULL,
	author_id  bigint NOT NULL,
	body       text NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE TABLE orders (
	id          bigint PRIMARY KEY,
	user_id     bigint NOT NULL,
	status      text NOT NULL,
	total_cents bigint NOT NULL,
	created_at  timestamptz NOT NULL
);
CREATE TABLE order_items (
	id          bigint PRIMARY KEY,
	order_id    bigint NOT NULL,
	sku         text NOT NULL,
	quantity    integer NOT NULL,
	price_cents bigint NOT NULL
);
-- An activity log: many rows per user, read newest first.
CREATE TABLE events (
	id         bigint PRIMARY KEY,
	user_id    bigint NOT NULL,
	kind       text NOT NULL,
	created_at timestamptz NOT NULL,
	payload    text NOT NULL
);
-- What was seeded, for the targets' /health and for the curious.
CREATE TABLE seed_info (
	id        integer PRIMARY KEY CHECK (id = 1),
	size      text NOT NULL,
	users     bigint NOT NULL,
	posts     bigint NOT NULL,
	events    bigint NOT NULL,
	seeded_at timestamptz NOT NULL DEFAULT now()
);

-- Consecutive posts have different authors (a page of posts has as many
-- authors as posts), each post has {comments_per_post} comments, each order
-- {items_per_order} items; events are spread over the users in no order.
INSERT INTO users (id, name, email, created_at)
SELECT g, 'user ' || g, 'user' || g || '@example.com', now() - g * interval '1 minute'
FROM generate_series(1, {users}) g;

INSERT INTO posts (id, author_id, title, body, created_at)
SELECT g, 1 + (g - 1) % {users}, 'post ' || g, repeat('lorem ipsum dolor sit amet ', 8),
       now() - ({posts} - g) * interval '1 minute'
FROM generate_series(1, {posts}) g;

INSERT INTO comments (id, post_id, author_id, body, created_at)
SELECT g, 1 + (g - 1) / {comments_per_post}, 1 + (g::bigint * 7919) % {users}, 'comment ' || g,
       now() - ({posts} * {comments_per_post} - g) * interval '10 seconds'
FROM generate_series(1, {posts} * {comments_per_post}) g;

INSERT INTO orders (id, user_id, status, total_cents, created_at)
SELECT g, 1 + (g - 1) % {users}, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3], 0,
       now() - g * interval '1 minute'
FROM generate_series(1, {orders}) g;

INSERT INTO order_items (id, order_id, sku, quantity, price_cents)
SELECT g, 1 + (g - 1) / {items_per_order}, 'SKU-' || (g % 1000), 1 + g % 4, 100 + (g * 37) % 9900
FROM generate_series(1, {orders} * {items_per_order}) g;

UPDATE orders o SET total_cents = s.total
FROM (SELECT order_id, sum(quantity * price_cents) AS total FROM order_items GROUP BY order_id) s
WHERE s.order_id = o.id;

INSERT INTO events (id, user_id, kind, created_at, payload)
SELECT g, 1 + (g::bigint * 104729) % {users}, (ARRAY['view', 'click', 'like', 'share'])[1 + g % 4],
       now() - g * interval '1 second', md5(g::text) || md5((g + 1)::text)
FROM generate_series(1, {events}) g;

-- Keys and indexes after the data: one pass each instead of a check per row.
ALTER TABLE posts ADD FOREIGN KEY (author_id) REFERENCES users (id);
ALTER TABLE comments ADD FOREIGN KEY (post_id) REFERENCES posts (id);
ALTER TABLE comments ADD FOREIGN KEY (author_id) REFERENCES users (id);
ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE order_items ADD FOREIGN KEY (order_id) REFERENCES orders (id);
CREATE INDEX posts_author_id_idx ON posts (author_id);
CREATE INDEX comments_post_id_idx ON comments (post_id);
CREATE INDEX orders_user_id_idx ON orders (user_id);
CREATE INDEX order_items_order_id_idx ON order_items (order_id);

INSERT INTO seed_info (id, size, users, posts, events)
VALUES (1, '{size}', {users}, {posts}, {events});
