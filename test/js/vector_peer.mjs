// Vector peer: runs SQL on npm libsql 0.5.29 (libSQL 3.45.1 with its vector functions:
// vector, vector32, vector64, vector16, vectorb16, vector8, vector1bit, vector_extract,
// vector_distance_cos, vector_distance_l2, libsql_vector_idx), so that test/libsql_vector_SUITE
// can compare our port's vector SQL with libSQL's own, value for value and bit for bit.
// Driven by test/libsql_vector_peer.erl.
//
//   node test/js/vector_peer.mjs '<json>'
//
// <json> is one object {"cmd": C, ...}:
//
//   {"cmd":"version"}  -> {"version":"0.5.29"} (the package found and loaded)
//   {"cmd":"eval","path":P|null,"in":F}
//       F is a file holding a JSON array of SQL statements (the corpus can hold statements
//       of megabytes, too long for an argument). Each is prepared and run on its own
//       (a statement that failed once keeps failing: prepare per case), on the database P
//       (null: ":memory:"), in order, on one connection.
//       -> {"results":[R,...]}, one R a statement:
//            {"rows":[[C,...],...]}   or   {"error":{"code":"SQLITE_ERROR","message":"..."}}
//   {"cmd":"exec","path":P,"sql":S}   db.exec(S) (several statements)  -> {"ok":true} or
//       {"error":{...}}
//
// Cells C: NULL null; INTEGER {"i":"<decimal>"}; REAL {"r":"<16 hex digits>"}, the IEEE-754
// bits of the double, big-endian (JSON numbers would lose -0, Inf and the last bits);
// TEXT {"s":"..."}; BLOB {"b":"<HEX>"} (upper case).
//
// The peer PANICS (aborts the process) when a Buffer is bound as a parameter, so nothing is
// bound here at all: blobs go into the SQL as x'..' literals.
//
// Output: one JSON object on stdout, exit status 0; any failure other than an SQL error:
// a message on stderr and exit status 1 (2 for usage).
//
// Where the package comes from: as test/js/crypt_peer.mjs ($LIBSQL_PEER_MODULE, then
// $LIBSQL_TEST_CACHE, default ~/.cache/libsql-test, where test/setup_remote.sh installs
// libsql@0.5.29; then NODE_PATH and node_modules folders above this script).

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { homedir } from 'node:os';

function die(msg, code = 1) {
    process.stderr.write(`vector_peer: ${msg}\n`);
    process.exit(code);
}

let peerPath = null;

function loadPeer() {
    const tried = [];
    const candidates = [];
    if (process.env.LIBSQL_PEER_MODULE) candidates.push(() => process.env.LIBSQL_PEER_MODULE);
    const cache = process.env.LIBSQL_TEST_CACHE || join(homedir(), '.cache', 'libsql-test');
    candidates.push(() => createRequire(join(cache, 'package.json')).resolve('libsql'));
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

function isSqlError(e) {
    return e && typeof e.code === 'string' && e.code.startsWith('SQLITE_');
}

function errorJson(e) {
    return JSON.stringify({ error: { code: e.code, message: String(e.message) } });
}

const bits = new DataView(new ArrayBuffer(8));

function cell(v) {
    if (v === null || v === undefined) return 'null';
    switch (typeof v) {
        case 'bigint': return `{"i":"${v.toString()}"}`;
        case 'number':
            bits.setFloat64(0, v, false);
            return `{"r":"${bits.getBigUint64(0, false).toString(16).toUpperCase().padStart(16, '0')}"}`;
        case 'string': return `{"s":${JSON.stringify(v)}}`;
        case 'object':
            if (v instanceof Uint8Array)
                return `{"b":"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex').toUpperCase()}"}`;
            if (v instanceof ArrayBuffer) return `{"b":"${Buffer.from(v).toString('hex').toUpperCase()}"}`;
    }
    die(`unexpected value from the peer: ${typeof v} ${String(v)}`);
}

function openDb(path) {
    const Database = loadPeer();
    return new Database(path === null || path === undefined ? ':memory:' : path);
}

function runOne(db, sql) {
    let stmt;
    try {
        stmt = db.prepare(sql);
        if (!stmt.reader) { stmt.run(); return '{"rows":[]}'; }
        stmt.raw(true);
        stmt.safeIntegers(true);
        const rows = stmt.all();
        return '{"rows":[' + rows.map(r => '[' + r.map(cell).join(',') + ']').join(',') + ']}';
    } catch (e) {
        if (isSqlError(e)) return errorJson(e);
        throw e;
    }
}

function cmdEval(req) {
    if (typeof req.in !== 'string') die('"in" missing');
    const stmts = JSON.parse(readFileSync(req.in, 'utf8'));
    if (!Array.isArray(stmts) || !stmts.every(s => typeof s === 'string')) die('"in" must hold an array of strings');
    const db = openDb(req.path);
    try {
        return '{"results":[' + stmts.map(s => runOne(db, s)).join(',') + ']}';
    } finally {
        db.close();
    }
}

function cmdExec(req) {
    if (typeof req.sql !== 'string') die('"sql" missing');
    if (typeof req.path !== 'string' || req.path === '') die('"path" missing');
    const db = openDb(req.path);
    try {
        db.exec(req.sql);
        return '{"ok":true}';
    } catch (e) {
        if (isSqlError(e)) return errorJson(e);
        throw e;
    } finally {
        db.close();
    }
}

function cmdVersion() {
    loadPeer();
    const pkg = JSON.parse(readFileSync(join(dirname(peerPath), 'package.json'), 'utf8'));
    return JSON.stringify({ version: pkg.version });
}

function main() {
    const args = process.argv.slice(2);
    if (args.length !== 1) die("usage: vector_peer.mjs '{\"cmd\": ...}' (see the header)", 2);
    let req;
    try { req = JSON.parse(args[0]); } catch (e) { die(`bad JSON argument: ${e.message}`, 2); }
    if (!req || typeof req !== 'object' || Array.isArray(req)) die('the argument must be a JSON object', 2);
    switch (req.cmd) {
        case 'eval': return cmdEval(req);
        case 'exec': return cmdExec(req);
        case 'version': return cmdVersion();
        default: die(`unknown cmd ${JSON.stringify(req.cmd)}`, 2);
    }
}

async function finish(text) {
    // stdout is a pipe when run from Erlang: wait for it to drain before exiting.
    await new Promise(resolve => process.stdout.write(text + '\n', resolve));
    process.exit(0);
}

try {
    await finish(main());
} catch (e) {
    die(e && e.stack ? e.stack : String(e));
}
