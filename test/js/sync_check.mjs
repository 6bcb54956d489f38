// Cross-check helper: drives Turso's own sync client, @tursodatabase/sync 0.7.2,
// against a tursodb --sync-server, so the Erlang tests can compare values with it.
//
//   node test/js/sync_check.mjs pull-dump  <url> <localdb> <table>
//   node test/js/sync_check.mjs write-push <url> <localdb> <table> <rows.json>
//   node test/js/sync_check.mjs version      (prints the version of the package it finds)
//   node test/js/sync_check.mjs bootstrap-timed <url> <localdb>
//   node test/js/sync_check.mjs pull-timed <url> <localdb>
//
// bootstrap-timed: connect({path: localdb, url}) to a fresh localdb (the client
//   bootstraps it from the server) and print {"ms": M}, the time connect took (the
//   package loaded beforehand, outside the timing). pull-timed: connect to a localdb made
//   before, then time one pull(). For make bench (bench/libsql_bench_replica.erl).
//
// pull-dump: connect({path: localdb, url}) (bootstraps a fresh local db), pull(),
//   SELECT * FROM <table> ORDER BY rowid, and print one JSON document on stdout:
//     {"columns": ["a", ...], "rows": [[V, ...], ...]}
// write-push: connect, pull(), insert the rows of <rows.json> locally in one
//   transaction (the table must already exist on the server), push(), print "ok".
//   <rows.json> is either [[V, ...], ...] or {"columns": [...], "rows": [[V, ...], ...]}
//   (with "columns" the INSERT names them, otherwise it fills the table's columns in order).
//
// V, a type-tagged value, exact in both directions:
//   {"t":"i","v":"-9223372036854775808"}   INTEGER, decimal string
//   {"t":"f","v":1.5}                       REAL; also "inf", "-inf", "nan"; -0.0 is written -0.0
//   {"t":"s","v":"text"}                    TEXT
//   {"t":"b","v":"00ff"}                    BLOB, lowercase hex
//   {"t":"n"}                               NULL
//
// Where the package comes from: $LIBSQL_TEST_CACHE (default ~/.cache/libsql-test), where
// `npm install --prefix "$LIBSQL_TEST_CACHE" @tursodatabase/sync@0.7.2` puts it; then NODE_PATH
// and this script's own node_modules lookup. LIBSQL_SYNC_MODULE may name the entry file outright.
//
// Exit status 0 on success; on failure a message on stderr and exit status 1 (2 for usage).
//
// Quirks of the client this script works around (observed with 0.7.2):
//   * integers come back as Number (int64 precision lost) unless safeIntegers(true): used here;
//   * a JS Number with an integral value binds as INTEGER (1.0 -> 1, -0 -> 0, 2**63 saturates
//     to 9223372036854775807): floats are therefore inserted as CAST(? AS REAL), and -0.0 as
//     the SQL literal -0.0;
//   * NaN binds as NULL (as in SQLite);
//   * a BigInt outside int64 is refused by bind;
//   * push of a row holding +-Inf fails as a whole: the client sends it as JSON null and
//     tursodb 0.7.0 answers HTTP 500 "invalid type: null, expected f64"; that local db then
//     keeps failing to push. Pulling +-Inf works;
//   * push sends floats as JSON numbers, and tursodb 0.7.0 parses some of them one ulp off
//     (about 7% of uniform random doubles in [0,1)); the pusher's own copy takes the server's
//     value at the next pull. Pulls are exact (pages).

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { homedir } from 'node:os';

function die(msg, code = 1) {
    process.stderr.write(`sync_check: ${msg}\n`);
    process.exit(code);
}

let syncPath = null;

async function loadSync() {
    const tried = [];
    const candidates = [];
    if (process.env.LIBSQL_SYNC_MODULE) candidates.push(() => process.env.LIBSQL_SYNC_MODULE);
    const cache = process.env.LIBSQL_TEST_CACHE || join(homedir(), '.cache', 'libsql-test');
    // createRequire wants a file name; it need not exist. Resolution walks up from its folder.
    candidates.push(() => createRequire(join(cache, 'package.json')).resolve('@tursodatabase/sync'));
    // NODE_PATH and node_modules folders above this script.
    candidates.push(() => createRequire(import.meta.url).resolve('@tursodatabase/sync'));
    for (const c of candidates) {
        let p;
        try { p = c(); } catch (e) { tried.push(e.message.split('\n')[0]); continue; }
        syncPath = p;
        return await import(pathToFileURL(p).href);
    }
    die(`cannot find @tursodatabase/sync (install it with: npm install --prefix ${cache} ` +
        `@tursodatabase/sync@0.7.2): ${tried.join('; ')}`);
}

function quoteIdent(name) {
    return '"' + String(name).replace(/"/g, '""') + '"';
}

// ---- output: tagged JSON, written by hand so -0.0 keeps its sign ----

function encodeFloat(x) {
    if (Number.isNaN(x)) return '{"t":"f","v":"nan"}';
    if (x === Infinity) return '{"t":"f","v":"inf"}';
    if (x === -Infinity) return '{"t":"f","v":"-inf"}';
    if (Object.is(x, -0)) return '{"t":"f","v":-0.0}';
    // String(x) is the shortest text that reads back as the same double; always valid JSON.
    return `{"t":"f","v":${String(x)}}`;
}

function encodeValue(v) {
    if (v === null || v === undefined) return '{"t":"n"}';
    switch (typeof v) {
        case 'bigint': return `{"t":"i","v":"${v.toString()}"}`;
        case 'number': return encodeFloat(v);
        case 'string': return `{"t":"s","v":${JSON.stringify(v)}}`;
        case 'object':
            if (v instanceof Uint8Array) return `{"t":"b","v":"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}"}`;
            if (v instanceof ArrayBuffer) return `{"t":"b","v":"${Buffer.from(v).toString('hex')}"}`;
    }
    die(`unexpected value from the client: ${typeof v} ${String(v)}`);
}

// ---- input: tagged JSON -> [sqlFragment, bindValue | NO_BIND] ----

const NO_BIND = Symbol('no-bind');

function decodeValue(tv) {
    if (!tv || typeof tv !== 'object') die(`bad tagged value ${JSON.stringify(tv)}`);
    switch (tv.t) {
        case 'n': return ['?', null];
        case 'i': {
            if (typeof tv.v !== 'string' || !/^-?[0-9]+$/.test(tv.v)) die(`bad integer ${JSON.stringify(tv)}`);
            return ['?', BigInt(tv.v)];
        }
        case 'f': {
            let x = tv.v;
            if (x === 'inf') x = Infinity;
            else if (x === '-inf') x = -Infinity;
            else if (x === 'nan') x = NaN;
            else if (typeof x !== 'number') die(`bad float ${JSON.stringify(tv)}`);
            // An integral Number would bind as INTEGER: make it REAL in SQL.
            if (Object.is(x, -0)) return ['-0.0', NO_BIND];
            if (Number.isNaN(x)) return ['?', x];
            return ['CAST(? AS REAL)', x];
        }
        case 's':
            if (typeof tv.v !== 'string') die(`bad text ${JSON.stringify(tv)}`);
            return ['?', tv.v];
        case 'b':
            if (typeof tv.v !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(tv.v)) die(`bad blob ${JSON.stringify(tv)}`);
            return ['?', Buffer.from(tv.v, 'hex')];
        default:
            die(`bad tag in ${JSON.stringify(tv)}`);
    }
}

async function open(url, path) {
    const { connect } = await loadSync();
    return await connect({ path, url, clientName: 'libsql-sync-check' });
}

async function pullDump(url, path, table) {
    const db = await open(url, path);
    try {
        await db.pull();
        const stmt = await db.prepare(`SELECT * FROM ${quoteIdent(table)} ORDER BY rowid`);
        stmt.safeIntegers(true);
        stmt.raw(true);
        const rows = await stmt.all();
        const cols = stmt.columns().map(c => c.name);
        const out = [];
        out.push('{"columns":', JSON.stringify(cols), ',"rows":[');
        rows.forEach((r, i) => {
            if (i > 0) out.push(',');
            out.push('[', r.map(encodeValue).join(','), ']');
        });
        out.push(']}\n');
        process.stdout.write(out.join(''));
    } finally {
        await db.close();
    }
}

async function writePush(url, path, table, rowsFile) {
    let doc;
    try { doc = JSON.parse(readFileSync(rowsFile, 'utf8')); }
    catch (e) { die(`cannot read ${rowsFile}: ${e.message}`); }
    const rows = Array.isArray(doc) ? doc : doc.rows;
    const cols = Array.isArray(doc) ? null : doc.columns;
    if (!Array.isArray(rows)) die('rows file holds no rows array');
    const db = await open(url, path);
    try {
        await db.pull();
        await db.exec('BEGIN');
        try {
            for (const row of rows) {
                if (!Array.isArray(row)) die(`row is not an array: ${JSON.stringify(row)}`);
                const parts = row.map(decodeValue);
                const colSql = cols ? ` (${cols.map(quoteIdent).join(', ')})` : '';
                const sql = `INSERT INTO ${quoteIdent(table)}${colSql} VALUES (${parts.map(p => p[0]).join(', ')})`;
                const args = parts.filter(p => p[1] !== NO_BIND).map(p => p[1]);
                const stmt = await db.prepare(sql);
                await stmt.run(args);
            }
            await db.exec('COMMIT');
        } catch (e) {
            try { await db.exec('ROLLBACK'); } catch (_) { /* already gone */ }
            throw e;
        }
        await db.push();
        process.stdout.write('ok\n');
    } finally {
        await db.close();
    }
}

async function timed(url, path, pull) {
    const { connect } = await loadSync();
    let t0 = performance.now();
    const db = await connect({ path, url, clientName: 'libsql-sync-check' });
    try {
        if (pull) {
            t0 = performance.now();
            await db.pull();
        }
        process.stdout.write(`{"ms": ${performance.now() - t0}}\n`);
    } finally {
        await db.close();
    }
}

async function main() {
    const [cmd, ...args] = process.argv.slice(2);
    switch (cmd) {
        case 'pull-dump':
            if (args.length !== 3) die('usage: pull-dump <url> <localdb> <table>', 2);
            return await pullDump(...args);
        case 'write-push':
            if (args.length !== 4) die('usage: write-push <url> <localdb> <table> <rows.json>', 2);
            return await writePush(...args);
        case 'bootstrap-timed':
            if (args.length !== 2) die('usage: bootstrap-timed <url> <localdb>', 2);
            return await timed(args[0], args[1], false);
        case 'pull-timed':
            if (args.length !== 2) die('usage: pull-timed <url> <localdb>', 2);
            return await timed(args[0], args[1], true);
        case 'version': {
            await loadSync();
            // the entry is <pkg>/dist/promise.js; its package.json is two levels up
            const pkg = JSON.parse(readFileSync(join(syncPath, '..', '..', 'package.json'), 'utf8'));
            process.stdout.write(`${pkg.version}\n`);
            return;
        }
        default:
            die('usage: sync_check.mjs pull-dump|write-push <url> <localdb> ... | version', 2);
    }
}

try {
    await main();
    // stdout is a pipe when run from Erlang, and Node writes to pipes asynchronously:
    // exiting straight away cut pull-dump's output at 64 KiB. Wait for it to drain.
    await new Promise(resolve => process.stdout.write('', resolve));
    process.exit(0);
} catch (e) {
    die(e && e.stack ? e.stack : String(e));
}
