// The peer of bench/libsql_bench_crypt.erl: npm libsql@0.5.29 (what libSQL's own
// Node client runs on) doing the encryption benchmark's workloads on its own
// files, plain and encrypted, timed inside node with process.hrtime.bigint(), so
// node's start-up and the package load are never counted.
//
// One long-lived process per contender: it reads one JSON request a line on stdin
// and answers each with one JSON line on stdout. Requests ("key_hex" null or absent
// = a plain file; otherwise the hex of the key, passed to libsql as the string of
// those bytes, as test/js/crypt_peer.mjs does):
//
//   {"cmd":"version"}                          -> {"version":"0.5.29"}
//   {"cmd":"write","path":P,"key_hex":K,"rows":N}
//        a new file with table t and rows 1..N (what the W1 and W3 rounds read)
//                                              -> {"ok":true,"page_count":C,"page_size":S}
//   {"cmd":"insert","path":P,"key_hex":K,"rows":N,"journal_mode":"delete"|"wal"}
//        a fresh file (P and its journal/WAL removed first), table t created, then
//        timed: BEGIN, one prepared INSERT run N times, COMMIT; closed untimed
//                                              -> {"us":T}
//   {"cmd":"open","path":P,"key_hex":K,"cache_size":null|Int}
//        the connection later w1 requests use (PRAGMA cache_size=Int when not null)
//                                              -> {"cache_size":Actual,"journal_mode":M}
//   {"cmd":"w1","calls":N,"rows":R}
//        1000 untimed calls, then N timed ones of a prepared get by a random id in
//        1..R on the open connection            -> {"median_us":A,"p99_us":B}
//   {"cmd":"w3","path":P,"key_hex":K,"cache_size":null|Int,"rows":R}
//        a fresh connection (untimed open and pragma), then timed: every row of t
//        through a prepared raw statement's iterate()  -> {"us":T}
//   {"cmd":"close"}                            -> {"ok":true}
//
// Rows (the same as the Erlang side's): id INTEGER (bound as BigInt: a JS Number
// always binds as REAL in libsql), name TEXT "name-" + id zero-padded to 25 digits
// (30 bytes), n REAL id / 7, b BLOB the MD5 of id as 4 big-endian bytes (16 bytes).
// They are built once per process, outside every timing.
//
// A failure: {"error":"..."} and the process goes on reading.

import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { readFileSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { homedir } from 'node:os';

const CREATE = 'CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n REAL, b BLOB)';
const INSERT = 'INSERT INTO t (id, name, n, b) VALUES (?, ?, ?, ?)';
const SELECT = 'SELECT id, name, n, b FROM t WHERE id = ?';
const SCAN = 'SELECT id, name, n, b FROM t';

let peerPath = null;

function loadPeer() {
    const cache = process.env.LIBSQL_TEST_CACHE || join(homedir(), '.cache', 'libsql-test');
    const tried = [];
    for (const c of [() => process.env.LIBSQL_PEER_MODULE || null,
                     () => createRequire(join(cache, 'package.json')).resolve('libsql'),
                     () => createRequire(import.meta.url).resolve('libsql')]) {
        let p;
        try { p = c(); } catch (e) { tried.push(e.message.split('\n')[0]); continue; }
        if (!p) continue;
        peerPath = p;
        return createRequire(import.meta.url)(p);
    }
    throw new Error(`cannot find libsql (npm install --prefix ${cache} libsql@0.5.29, ` +
                    `or bash test/setup_remote.sh): ${tried.join('; ')}`);
}

const Database = loadPeer();

function keyString(keyHex) {
    if (keyHex === null || keyHex === undefined) return undefined;
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(keyHex, 'hex'));
}

function openDb(req) {
    const key = keyString(req.key_hex);
    return new Database(req.path, key === undefined ? {} : { encryptionKey: key });
}

function pragma(db, text) {
    const s = db.prepare(`PRAGMA ${text}`);
    s.raw(true);
    const rows = s.all();
    return rows.length > 0 ? rows[0][0] : null;
}

function setCache(db, size) {
    if (size !== null && size !== undefined) db.exec(`PRAGMA cache_size = ${size}`);
}

let rowsCache = { n: -1, rows: null };
function rows(n) {
    if (rowsCache.n === n) return rowsCache.rows;
    const out = new Array(n);
    for (let i = 1; i <= n; i++) {
        const id = Buffer.alloc(4);
        id.writeUInt32BE(i);
        out[i - 1] = [BigInt(i), 'name-' + String(i).padStart(25, '0'), i / 7,
                      createHash('md5').update(id).digest()];
    }
    rowsCache = { n, rows: out };
    return out;
}

function removeDb(path) {
    for (const s of ['', '-journal', '-wal', '-shm']) rmSync(path + s, { force: true });
}

// BEGIN, the rows, COMMIT on db: the time in µs.
function insertRows(db, all) {
    const ins = db.prepare(INSERT);
    const t0 = process.hrtime.bigint();
    db.exec('BEGIN');
    for (const r of all) ins.run(r);
    db.exec('COMMIT');
    return Number(process.hrtime.bigint() - t0) / 1000;
}

function cmdWrite(req) {
    removeDb(req.path);
    const db = openDb(req);
    try {
        db.exec(CREATE);
        insertRows(db, rows(req.rows));
        return { ok: true, page_count: Number(pragma(db, 'page_count')),
                 page_size: Number(pragma(db, 'page_size')) };
    } finally {
        db.close();
    }
}

function cmdInsert(req) {
    const all = rows(req.rows);
    removeDb(req.path);
    const db = openDb(req);
    try {
        const mode = req.journal_mode || 'delete';
        const got = pragma(db, `journal_mode = ${mode}`);
        if (got !== mode) throw new Error(`PRAGMA journal_mode = ${mode} gave ${got}`);
        db.exec(CREATE);
        return { us: insertRows(db, all) };
    } finally {
        db.close();
    }
}

let conn = null;

function cmdOpen(req) {
    if (conn) conn.db.close();
    const db = openDb(req);
    setCache(db, req.cache_size);
    const get = db.prepare(SELECT);
    get.raw(true);
    get.safeIntegers(true);
    conn = { db, get };
    return { cache_size: Number(pragma(db, 'cache_size')), journal_mode: pragma(db, 'journal_mode') };
}

function cmdW1(req) {
    if (!conn) throw new Error('w1 without open');
    const { get } = conn;
    const n = req.calls, r = req.rows;
    const pick = () => BigInt(1 + Math.floor(Math.random() * r));
    for (let i = 0; i < 1000; i++) {
        const id = pick();
        if (get.get(id)[0] !== id) throw new Error(`row ${id} not found`);
    }
    const samples = new Float64Array(n);
    for (let i = 0; i < n; i++) {
        const id = pick();
        const t0 = process.hrtime.bigint();
        const row = get.get(id);
        samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
        if (row[0] !== id) throw new Error(`row ${id} not found`);
    }
    samples.sort();
    return { median_us: samples[Math.floor(n / 2)], p99_us: samples[Math.max(0, Math.ceil(n * 0.99) - 1)] };
}

function cmdW3(req) {
    const db = openDb(req);
    try {
        setCache(db, req.cache_size);
        const scan = db.prepare(SCAN);
        scan.raw(true);
        scan.safeIntegers(true);
        let k = 0;
        const t0 = process.hrtime.bigint();
        for (const _row of scan.iterate()) k++;
        const us = Number(process.hrtime.bigint() - t0) / 1000;
        if (k !== req.rows) throw new Error(`scan gave ${k} rows, not ${req.rows}`);
        return { us };
    } finally {
        db.close();
    }
}

function cmdVersion() {
    const pkg = JSON.parse(readFileSync(join(dirname(peerPath), 'package.json'), 'utf8'));
    return { version: pkg.version };
}

function handle(req) {
    switch (req.cmd) {
        case 'version': return cmdVersion();
        case 'write': return cmdWrite(req);
        case 'insert': return cmdInsert(req);
        case 'open': return cmdOpen(req);
        case 'w1': return cmdW1(req);
        case 'w3': return cmdW3(req);
        case 'close':
            if (conn) { conn.db.close(); conn = null; }
            return { ok: true };
        default: throw new Error(`unknown cmd ${JSON.stringify(req.cmd)}`);
    }
}

const rl = createInterface({ input: process.stdin, terminal: false });
for await (const line of rl) {
    if (line.trim() === '') continue;
    let reply;
    try {
        reply = handle(JSON.parse(line));
    } catch (e) {
        reply = { error: String(e && e.message ? e.message : e) };
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
}
if (conn) conn.db.close();
