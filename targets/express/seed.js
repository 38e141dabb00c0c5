'use strict';
// Seeds the Express target's database with the schema and data set shared
// with the FastAPI target (../schema/seed.sql, sizes in ../schema/sizes.json).
//
//   node seed.js --dsn DSN [--size tiny|small|large]

const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { Client } = require('pg');
const { pgConfig } = require('./pgconfig');

const SCHEMA_DIR = path.join(__dirname, '..', 'schema');

async function seed(dsn, size) {
  const sizes = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, 'sizes.json'), 'utf8'));
  if (!sizes[size]) {
    throw new Error(`unknown size ${JSON.stringify(size)} (${Object.keys(sizes).join(', ')})`);
  }
  let script = fs.readFileSync(path.join(SCHEMA_DIR, 'seed.sql'), 'utf8');
  for (const [name, value] of Object.entries(sizes[size])) {
    script = script.replaceAll(`{${name}}`, String(Math.trunc(value)));
  }
  script = script.replaceAll('{size}', size);

  const client = new Client(pgConfig(dsn, 'advisor-target-express-seed'));
  await client.connect();
  try {
    // One transaction: a multi-statement query runs as one implicitly.
    await client.query(script);
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}

function main() {
  const { values } = parseArgs({
    options: {
      dsn: { type: 'string', default: process.env.DATABASE_URL },
      size: { type: 'string', default: 'small' },
    },
  });
  if (!values.dsn) {
    console.error('seed.js: --dsn (or DATABASE_URL) is required');
    process.exit(2);
  }
  seed(values.dsn, values.size).catch((err) => {
    console.error(`seed.js: ${err.message}`);
    process.exit(1);
  });
}

main();
