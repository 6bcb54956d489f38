// Encryption peer: drives npm libsql 0.5.29 (prebuilt @libsql/linux-x64-gnu, which embeds
// SQLite3MultipleCiphers 1.8.1 on libSQL 3.45.1), whose `encryptionKey` option writes the
// sqlite3mc `aes256cbc` format, so the Erlang tests can check our encryption against it.
// Driven by test/libsql_crypt_peer.erl.
//
//   node test/js/crypt_peer.mjs '<json>'
//
// <json> is one object {"cmd": C, ...}; "path" is the database file, "key_hex" the bytes of
// the key hex-encoded, or null for no key. The commands:
//
//   {"cmd":"exec","path":P,"key_hex":K,"sql":S}           db.exec(S) (several statements ok)
//       -> {"ok":true}
//   {"cmd":"query","path":P,"key_hex":K,"sql":S,"params":[V...]}   ("params" optional)
//       -> {"rows":[[V,...],...]}
//   {"cmd":"write_rows","path":P,"key_hex":K,"rows":N,"journal_mode":"delete"|"wal","page_size":4096}
//       creates t(id INTEGER PRIMARY KEY, name TEXT, n REAL, b BLOB) if missing (page_size is
//       set first, which only counts on a new file) and inserts, in one transaction, rows
//       i = 1..N: (i, 'row-' || i, i * 0.5, i as 8 bytes big-endian)  -> {"ok":true}
//   {"cmd":"crash_journal","path":P,"key_hex":K,"out":O}
//       on an existing rollback-journal database with table t: cache_size=2, BEGIN, update
//       every row so pages spill to P, and while the transaction is open byte-copy P and
//       P-journal to O and O-journal (a crash copy with a hot journal); then ROLLBACK.
//       Fails unless the journal copy is non-empty and O differs from P before the update.
//       -> {"ok":true,"journal_bytes":N}
//   {"cmd":"crash_wal","path":P,"key_hex":K,"commits":N}
//       a child node process opens P in WAL mode with wal_autocheckpoint=0, creates t if
//       missing, makes N commits of one row each (id = max(id)+1, name 'wal-' || id) and is
//       then killed with SIGKILL, never closing the database: P-wal (and P-shm) stay behind
//       with all N commits un-checkpointed.  -> {"ok":true,"wal_bytes":N}
//   {"cmd":"info","path":P,"key_hex":K}
//       -> {"cipher": PRAGMA cipher or null, "integrity": first row of PRAGMA
//           integrity_check, "count": SELECT count(*) FROM t, or null without a table t}
//   {"cmd":"version"}  -> {"version":"0.5.29"} (the package found, loaded; no database)
//   ("_wal_child" is crash_wal's child process, internal.)
//
// Values V, out: INTEGER a JSON number when |v| <= 2^53 - 1, else {"int":"<decimal>"};
//   REAL a JSON number always written with a '.' or an exponent (1.0, not 1; -0.0 keeps its
//   sign), so a reader can tell it from an INTEGER; +-Inf as {"real":"inf"} / {"real":"-inf"};
//   TEXT a string; BLOB {"blob_hex":"00ff"}; NULL null.
// Values V, in (params): null; a string (TEXT); a JSON number with an integral value binds
//   as INTEGER, any other number as REAL; {"int":"<decimal>"} INTEGER; {"real": x} REAL
//   (x a number or "inf", "-inf"); {"blob_hex":"..."} BLOB.
//
// Keys: libsql takes `encryptionKey` as a JS string, which reaches sqlite3mc as its UTF-8
// bytes. The hex is therefore decoded to bytes and those as (strict) UTF-8: only keys that
// are valid UTF-8 can be passed to the peer; others fail (exit 1). An empty key is the same
// as no key (libsql treats "" as "no encryption").
//
// Output: exactly one JSON object on stdout, exit status 0. An SQL error from the peer is
// also exit 0, printed as {"error":{"code":"SQLITE_NOTADB","rawCode":26,"message":"..."}}
// (the peer's SqliteError fields: code is the extended code's name, rawCode the extended
// code). Any other failure: a message on stderr and exit status 1 (2 for usage).
//
// Where the package comes from: $LIBSQL_TEST_CACHE (default ~/.cache/libsql-test), where
// test/setup_remote.sh runs `npm install --prefix "$LIBSQL_TEST_CACHE" libsql@0.5.29`; then
// NODE_PATH and this script's own node_modules lookup. LIBSQL_PEER_MODULE may name the entry
// file outright.
//
// Peer quirks seen with 0.5.29 (and relied on here):
//   * a JS Number always binds as REAL, even 1; INTEGERs must be bound as BigInt;
//   * integers read back as Number (precision lost) unless safeIntegers(true): used here;
//   * opening with a wrong or missing key succeeds; the first read fails with SQLITE_NOTADB;
//   * PRAGMA cipher answers "aes256cbc" (the default cipher) even on a connection without a
//     key, so it does not show that a file is encrypted;
//   * its default journal mode is DELETE;
//   * closing a WAL database leaves P-wal and P-shm behind (nothing is checkpointed on
//     close): a WAL written by write_rows is still there afterwards;
//   * a file that cannot be opened fails in the constructor with a plain Error
//     (`ConnectionFailed("Unable to open connection to local database ...: 14")`, no
//     code): not an SQL error, so exit status 1 here.

import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';

function die(msg, code = 1) {
    process.stderr.write(`crypt_peer: ${msg}\n`);
    process.exit(code);
}

let peerPath = null;

// libsql is CommonJS, so require() it (synchronously) rather than import().
function loadPeer() {
    const tried = [];
    const candidates = [];
    if (process.env.LIBSQL_PEER_MODULE) candidates.push(() => process.env.LIBSQL_PEER_MODULE);
    const cache = process.env.LIBSQL_TEST_CACHE || join(homedir(), '.cache', 'libsql-test');
    // createRequire wants a file name; it need not exist. Resolution walks up from its folder.
    candidates.push(() => createRequire(join(cache, 'package.json')).resolve('libsql'));
    // NODE_PATH and node_modules folders above this script.
    candidates.push(() => createRequire(import.meta.url).resolve('libsql'));
    for (const c of candidates) {
        let p;
        try { p = c(); } catch (e) { tried.push(e.message.split('\n')[0]); continue; }
        peerPath = p;
        return createRequire(import.meta.url)(p);
    }
    die(`cannot find libsql (install it with: npm install --prefix ${cache} libsql@0.5.29, ` +
        `or run test/setup_remote.sh): ${tried.join('; ')}`);
}

// ---- errors ----

// An SQL error from the peer, printed as {"error": ...} with exit status 0.
function isSqlError(e) {
    return e && typeof e.code === 'string' && e.code.startsWith('SQLITE_');
}

// ---- keys ----

function keyString(keyHex) {
    if (keyHex === null || keyHex === undefined) return undefined;
    if (typeof keyHex !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(keyHex)) die(`bad key_hex ${JSON.stringify(keyHex)}`);
    try {
        return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(keyHex, 'hex'));
    } catch (_) {
        die(`key ${keyHex} is not valid UTF-8: libsql takes the key as a string, so it cannot be passed`);
    }
}

function openDb(req) {
    if (typeof req.path !== 'string' || req.path === '') die('"path" missing');
    const Database = loadPeer();
    const key = keyString(req.key_hex);
    return new Database(req.path, key === undefined ? {} : { encryptionKey: key });
}

// ---- values ----

function encodeReal(x) {
    if (x === Infinity) return '{"real":"inf"}';
    if (x === -Infinity) return '{"real":"-inf"}';
    if (Number.isNaN(x)) return '{"real":"nan"}';  // SQLite stores NaN as NULL; not expected
    if (Object.is(x, -0)) return '-0.0';
    // String(x) is the shortest text that reads back as the same double; make it look real.
    const s = String(x);
    return /[.eE]/.test(s) ? s : s + '.0';
}

function encodeValue(v) {
    if (v === null || v === undefined) return 'null';
    switch (typeof v) {
        case 'bigint':
            return (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER))
                ? v.toString() : `{"int":"${v.toString()}"}`;
        case 'number': return encodeReal(v);
        case 'string': return JSON.stringify(v);
        case 'object':
            if (v instanceof Uint8Array) return `{"blob_hex":"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}"}`;
            if (v instanceof ArrayBuffer) return `{"blob_hex":"${Buffer.from(v).toString('hex')}"}`;
    }
    die(`unexpected value from the peer: ${typeof v} ${String(v)}`);
}

function decodeParam(p) {
    if (p === null) return null;
    if (typeof p === 'string') return p;
    if (typeof p === 'number') return Number.isInteger(p) ? BigInt(p) : p;
    if (typeof p === 'object' && !Array.isArray(p)) {
        if (typeof p.int === 'string' && /^-?[0-9]+$/.test(p.int)) return BigInt(p.int);
        if ('real' in p) {
            if (typeof p.real === 'number') return p.real;
            if (p.real === 'inf') return Infinity;
            if (p.real === '-inf') return -Infinity;
        }
        if (typeof p.blob_hex === 'string' && /^([0-9a-fA-F]{2})*$/.test(p.blob_hex)) return Buffer.from(p.blob_hex, 'hex');
    }
    die(`bad parameter ${JSON.stringify(p)}`);
}

function queryRows(db, sql, params = []) {
    const stmt = db.prepare(sql);
    stmt.raw(true);
    stmt.safeIntegers(true);
    return stmt.all(params);
}

// The first column of the first row, or null.
function scalar(db, sql) {
    const rows = queryRows(db, sql);
    return rows.length > 0 ? rows[0][0] : null;
}

function hasTableT(db) {
    return queryRows(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 't'").length > 0;
}

function positiveInt(req, field) {
    const n = req[field];
    if (!Number.isInteger(n) || n < 0) die(`"${field}" must be a non-negative integer`);
    return n;
}

const CREATE_T = 'CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, name TEXT, n REAL, b BLOB)';

// ---- commands; each returns the JSON text to print ----

function cmdExec(req) {
    if (typeof req.sql !== 'string') die('"sql" missing');
    const db = openDb(req);
    try { db.exec(req.sql); } finally { db.close(); }
    return '{"ok":true}';
}

function cmdQuery(req) {
    if (typeof req.sql !== 'string') die('"sql" missing');
    const params = req.params ?? [];
    if (!Array.isArray(params)) die('"params" must be an array');
    const db = openDb(req);
    try {
        const rows = queryRows(db, req.sql, params.map(decodeParam));
        return '{"rows":[' + rows.map(r => '[' + r.map(encodeValue).join(',') + ']').join(',') + ']}';
    } finally {
        db.close();
    }
}

function cmdWriteRows(req) {
    const n = positiveInt(req, 'rows');
    const mode = req.journal_mode ?? 'delete';
    if (mode !== 'delete' && mode !== 'wal') die('"journal_mode" must be "delete" or "wal"');
    const pageSize = req.page_size ?? 4096;
    if (!Number.isInteger(pageSize)) die('"page_size" must be an integer');
    const db = openDb(req);
    try {
        // page_size only takes effect before the first table exists (a new file).
        db.exec(`PRAGMA page_size=${pageSize}`);
        const got = scalar(db, `PRAGMA journal_mode=${mode}`);
        if (got !== mode) die(`PRAGMA journal_mode=${mode} gave ${got}`);
        db.exec(CREATE_T);
        const ins = db.prepare('INSERT INTO t(id, name, n, b) VALUES (?, ?, ?, ?)');
        db.exec('BEGIN');
        try {
            for (let i = 1; i <= n; i++) {
                const b = Buffer.alloc(8);
                b.writeBigInt64BE(BigInt(i));
                // id as BigInt (an INTEGER), i * 0.5 as a Number (always a REAL in libsql).
                ins.run([BigInt(i), `row-${i}`, i * 0.5, b]);
            }
            db.exec('COMMIT');
        } catch (e) {
            try { db.exec('ROLLBACK'); } catch (_) { /* already gone */ }
            throw e;
        }
    } finally {
        db.close();
    }
    return '{"ok":true}';
}

function cmdCrashJournal(req) {
    if (typeof req.out !== 'string' || req.out === '') die('"out" missing');
    if (!existsSync(req.path)) die(`${req.path} does not exist`);
    const before = readFileSync(req.path);
    const db = openDb(req);
    try {
        const mode = scalar(db, 'PRAGMA journal_mode');
        if (mode !== 'delete') die(`${req.path} is in journal mode ${mode}, not delete`);
        if (!hasTableT(db)) die(`${req.path} has no table t`);
        // A two-page cache makes the update spill dirty pages into the main file before
        // COMMIT, so the copy has changed pages that only the hot journal can undo.
        db.exec('PRAGMA cache_size=2');
        db.exec('BEGIN');
        let journalBytes;
        try {
            db.exec("UPDATE t SET name = name || '-changed', b = randomblob(200)");
            copyFileSync(req.path, req.out);
            copyFileSync(req.path + '-journal', req.out + '-journal');
            journalBytes = statSync(req.out + '-journal').size;
        } catch (e) {
            try { db.exec('ROLLBACK'); } catch (_) { /* already gone */ }
            throw e;
        }
        db.exec('ROLLBACK');
        if (journalBytes === 0) die('the copied journal is empty');
        if (readFileSync(req.out).equals(before))
            die('the copied database is unchanged: nothing spilled (table t too small?)');
        return `{"ok":true,"journal_bytes":${journalBytes}}`;
    } finally {
        db.close();
    }
}

// crash_wal's child: make the commits, say "done" on stdout, then wait to be killed.
// It must not close the database or exit normally: either could checkpoint the WAL.
function cmdWalChild(req) {
    const n = positiveInt(req, 'commits');
    const db = openDb(req);
    const got = scalar(db, 'PRAGMA journal_mode=wal');
    if (got !== 'wal') die(`PRAGMA journal_mode=wal gave ${got}`);
    db.exec('PRAGMA wal_autocheckpoint=0');
    db.exec(CREATE_T);
    for (let i = 0; i < n; i++)
        db.exec("INSERT INTO t(id, name) SELECT id, 'wal-' || id FROM (SELECT coalesce(max(id), 0) + 1 AS id FROM t)");
    globalThis.walChildDb = db;  // keep it reachable: no finalizer may close it
    process.stdout.write('done\n');
    // Orphaned (the parent was killed before it could kill us)? Die the same way.
    const parent = process.ppid;
    setInterval(() => { if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL'); }, 1000);
    return null;
}

async function cmdCrashWal(req) {
    positiveInt(req, 'commits');
    if (typeof req.path !== 'string' || req.path === '') die('"path" missing');
    keyString(req.key_hex);  // a bad key fails here, not in the child
    const child = spawn(process.execPath,
                        [fileURLToPath(import.meta.url), JSON.stringify({ ...req, cmd: '_wal_child' })],
                        { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', d => { err += d; });
    const result = await new Promise(resolve => {
        child.stdout.on('data', d => {
            out += d;
            if (out.includes('done\n')) child.kill('SIGKILL');
        });
        child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    if (!out.includes('done\n')) {
        // An SQL error in the child (a wrong key, say) is this command's SQL error.
        const m = /^\{"error":.*\}$/m.exec(out);
        if (m) return m[0];
        die(`the WAL child failed (exit ${result.code}, signal ${result.signal}): ${err.trim()}`);
    }
    const wal = req.path + '-wal';
    if (!existsSync(wal)) die(`${wal} does not exist after the crash`);
    const walBytes = statSync(wal).size;
    if (walBytes === 0) die(`${wal} is empty after the crash`);
    return `{"ok":true,"wal_bytes":${walBytes}}`;
}

function cmdInfo(req) {
    const db = openDb(req);
    try {
        const cipher = scalar(db, 'PRAGMA cipher');
        const integrity = scalar(db, 'PRAGMA integrity_check');
        const count = hasTableT(db) ? scalar(db, 'SELECT count(*) FROM t') : null;
        return `{"cipher":${encodeValue(cipher)},"integrity":${encodeValue(integrity)},"count":${encodeValue(count)}}`;
    } finally {
        db.close();
    }
}

function cmdVersion() {
    loadPeer();
    // peerPath is <pkg>/index.js
    const pkg = JSON.parse(readFileSync(join(dirname(peerPath), 'package.json'), 'utf8'));
    return JSON.stringify({ version: pkg.version });
}

async function main() {
    const args = process.argv.slice(2);
    if (args.length !== 1) die("usage: crypt_peer.mjs '{\"cmd\": ...}' (see the header)", 2);
    let req;
    try { req = JSON.parse(args[0]); } catch (e) { die(`bad JSON argument: ${e.message}`, 2); }
    if (!req || typeof req !== 'object' || Array.isArray(req)) die('the argument must be a JSON object', 2);
    switch (req.cmd) {
        case 'exec': return cmdExec(req);
        case 'query': return cmdQuery(req);
        case 'write_rows': return cmdWriteRows(req);
        case 'crash_journal': return cmdCrashJournal(req);
        case 'crash_wal': return await cmdCrashWal(req);
        case '_wal_child': return cmdWalChild(req);
        case 'info': return cmdInfo(req);
        case 'version': return cmdVersion();
        default: die(`unknown cmd ${JSON.stringify(req.cmd)}`, 2);
    }
}

async function finish(text) {
    process.stdout.write(text + '\n');
    // stdout is a pipe when run from Erlang, and Node writes to pipes asynchronously:
    // exiting straight away can cut the output. Wait for it to drain.
    await new Promise(resolve => process.stdout.write('', resolve));
    process.exit(0);
}

try {
    const text = await main();
    if (text !== null) await finish(text);  // null: the WAL child, which waits to be killed
} catch (e) {
    if (isSqlError(e)) {
        await finish(JSON.stringify({ error: { code: e.code, rawCode: e.rawCode, message: e.message } }));
    } else {
        die(e && e.stack ? e.stack : String(e));
    }
}
