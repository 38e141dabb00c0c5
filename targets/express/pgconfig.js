'use strict';
// Turns a postgres:// URL into node-postgres client settings. node-postgres
// does not read libpq's passfile parameter, which the test stack's URLs use
// instead of a password: this reads it (~/.pgpass format) itself.

const fs = require('node:fs');

// pgConfig returns the Client/Pool settings for dsn, with applicationName.
function pgConfig(dsn, applicationName) {
  let u;
  try {
    u = new URL(dsn);
  } catch {
    throw new Error('--dsn must be a postgres:// or postgresql:// URL');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new Error('--dsn must be a postgres:// or postgresql:// URL');
  }
  const cfg = {
    host: decodeURIComponent(u.hostname) || 'localhost',
    port: Number(u.port || 5432),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || undefined,
    user: decodeURIComponent(u.username) || process.env.PGUSER || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    application_name: applicationName,
  };
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode === 'require' || sslmode === 'verify-ca' || sslmode === 'verify-full') {
    cfg.ssl = { rejectUnauthorized: sslmode !== 'require' };
  }
  const passfile = u.searchParams.get('passfile') || process.env.PGPASSFILE;
  if (cfg.password === undefined && passfile) {
    cfg.password = fromPassfile(passfile, cfg);
  }
  return cfg;
}

// fromPassfile returns the password of the first line of file that matches
// cfg's host, port, database and user ('*' matches anything), or undefined.
function fromPassfile(file, cfg) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`passfile ${file}: ${err.message}`);
  }
  const want = [cfg.host, String(cfg.port), cfg.database || '', cfg.user || ''];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const fields = splitPassLine(line);
    if (fields.length < 5) continue;
    if (want.every((v, i) => fields[i] === '*' || fields[i] === v)) {
      return fields.slice(4).join(':');
    }
  }
  return undefined;
}

// splitPassLine splits a passfile line on ':', honouring \: and \\.
function splitPassLine(line) {
  const fields = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
    } else if (c === ':') {
      fields.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  fields.push(cur);
  return fields;
}

module.exports = { pgConfig };
