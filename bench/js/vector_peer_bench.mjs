// The peer of bench/libsql_bench_vector.erl: npm libsql@0.5.29 (libSQL's own
// Node client) building libSQL's vector index (DiskANN) on the same vectors as
// the Erlang side and answering the same queries, timed inside node with
// process.hrtime.bigint(), so node's start-up and the package load are never
// counted.
//
// The vectors come from one file the Erlang side writes: rows of `dims`
// little-endian float32 values, back to back (vector i at byte i * dims * 4).
// libsql 0.5.29 panics when a Buffer is bound, so every vector is bound as the
// hex of its bytes and turned back into a blob in SQL with unhex(?) (an
// even-length blob is a FLOAT32 vector); the hex strings are made once, before
// any timing.
//
// One long-lived process: it reads one JSON request a line on stdin and answers
// each with one JSON line on stdout.
//
//   {"cmd":"version"}                          -> {"version":"0.5.29"}
//   {"cmd":"load","data":F,"dims":D,"rows":N}
//        reads the first N vectors of F into memory (as hex)   -> {"ok":true}
//   {"cmd":"build","path":P,"dims":D,"rows":N,"batch":B,"index":Opts|null}
//        a fresh file P (P, P-journal and P-wal removed first): table
//        t (id INTEGER PRIMARY KEY, e F32_BLOB(D)), then, when Opts is not null,
//        CREATE INDEX t_idx ON t(libsql_vector_idx(e, Opts)); then timed: rows
//        1..N (vector i-1 as row i), B a transaction (BEGIN, one prepared
//        INSERT run per row, COMMIT); then untimed: PRAGMA wal_checkpoint
//        (TRUNCATE) and close; the file's size read from the file system
//        -> {"us":T,"size":Bytes,"page_size":S,"page_count":C,"shadow_rows":R}
//        (progress to stderr every 10% of the rows)
//        With "after":true the rows go in first, untimed, and what is timed is
//        CREATE INDEX t_idx ... over them (libSQL fills the graph row by row).
//   {"cmd":"open","path":P}                    the file later queries read
//        -> {"ok":true}
//   {"cmd":"queries","from":I,"count":Q,"k":K,"mode":"ann"|"exact"}
//        the Q vectors I..I+Q-1 of the loaded data as queries, on the open
//        file, timed all together (every row of every answer fetched):
//          ann:   SELECT id FROM vector_top_k('t_idx', vector32(unhex(?)), K)
//          exact: SELECT id FROM t ORDER BY vector_distance_cos(e, vector32(unhex(?))) LIMIT K
//        -> {"us":T,"ids":[[id,...],...]}  (the ids in the order returned)
//   {"cmd":"search_l","path":P,"value":L}
//        on a connection of its own: appends the record (tag 9, L as u64 LE) to
//        the index's meta blob in libsql_vector_meta_shadow (the last record of
//        a tag wins), what CREATE INDEX ... 'search_l=L' would have written; the
//        graph is untouched                   -> {"ok":true}
//   {"cmd":"close"}                            -> {"ok":true}
//
// A failure: {"error":"..."} and the process goes on reading.

import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { readSync, openSync, closeSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { homedir } from 'node:os';

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

function version() {
    let dir = join(peerPath, '..');
    for (let i = 0; i < 4; i++) {
        try {
            const pkg = createRequire(join(dir, 'package.json'))('./package.json');
            if (pkg.name === 'libsql') return pkg.version;
        } catch (e) { /* go up */ }
        dir = join(dir, '..');
    }
    return 'unknown';
}

const now = () => process.hrtime.bigint();
const usSince = (t0) => Number((now() - t0) / 1000n);

let vectors = [];        // hex strings
let dims = 0;
let db = null;

function load(req) {
    const bytes = req.dims * 4;
    const fd = openSync(req.data, 'r');
    try {
        const buf = Buffer.alloc(bytes * req.rows);
        let off = 0;
        while (off < buf.length) {
            const n = readSync(fd, buf, off, buf.length - off, off);
            if (n === 0) throw new Error(`${req.data}: ${off} bytes, wanted ${buf.length}`);
            off += n;
        }
        vectors = new Array(req.rows);
        for (let i = 0; i < req.rows; i++) {
            vectors[i] = buf.toString('hex', i * bytes, (i + 1) * bytes);
        }
        dims = req.dims;
    } finally {
        closeSync(fd);
    }
    return { ok: true };
}

function removeDb(path) {
    for (const p of [path, path + '-journal', path + '-wal', path + '-shm']) rmSync(p, { force: true });
}

function one(d, sql) {
    return d.prepare(sql).raw().get()[0];
}

function build(req) {
    if (req.dims !== dims || req.rows > vectors.length) {
        throw new Error(`build of ${req.rows} x ${req.dims}: ${vectors.length} x ${dims} loaded`);
    }
    removeDb(req.path);
    const d = new Database(req.path);
    try {
        d.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, e F32_BLOB(${req.dims}))`);
        const createIndex = () => d.exec(`CREATE INDEX t_idx ON t(libsql_vector_idx(e, '${req.index}'))`);
        const after = req.after === true && req.index !== null && req.index !== undefined;
        if (req.index !== null && req.index !== undefined && !after) createIndex();
        const ins = d.prepare('INSERT INTO t (id, e) VALUES (?, unhex(?))');
        const begin = d.prepare('BEGIN');
        const commit = d.prepare('COMMIT');
        const n = req.rows;
        const step = Math.max(1, Math.floor(n / 10));
        let t0 = now();
        for (let i = 0; i < n; i += req.batch) {
            begin.run();
            const end = Math.min(n, i + req.batch);
            for (let j = i; j < end; j++) ins.run(BigInt(j + 1), vectors[j]);
            commit.run();
            if (Math.floor(end / step) !== Math.floor(i / step) && end < n) {
                process.stderr.write(`vector peer: ${end}/${n} rows, ${(usSince(t0) / 1e6).toFixed(1)} s\n`);
            }
        }
        if (after) {
            t0 = now();
            createIndex();
        }
        const us = usSince(t0);
        const cp = d.prepare('PRAGMA wal_checkpoint(TRUNCATE)'); cp.raw().all();
        const pageSize = one(d, 'PRAGMA page_size');
        const pageCount = one(d, 'PRAGMA page_count');
        let shadow = 0;
        if (req.index !== null && req.index !== undefined) shadow = one(d, 'SELECT count(*) FROM t_idx_shadow');
        d.close();
        return { us, size: statSync(req.path).size, page_size: Number(pageSize),
                 page_count: Number(pageCount), shadow_rows: Number(shadow) };
    } catch (e) {
        try { d.close(); } catch (e2) { /* ignore */ }
        throw e;
    }
}

function open(req) {
    if (db) db.close();
    db = new Database(req.path);
    return { ok: true };
}

function queries(req) {
    if (!db) throw new Error('queries: no file open');
    if (req.from + req.count > vectors.length) throw new Error('queries: beyond the loaded vectors');
    const sql = req.mode === 'ann'
        ? `SELECT id FROM vector_top_k('t_idx', vector32(unhex(?)), ${req.k})`
        : `SELECT id FROM t ORDER BY vector_distance_cos(e, vector32(unhex(?))) LIMIT ${req.k}`;
    const st = db.prepare(sql).raw();
    const ids = new Array(req.count);
    const t0 = now();
    for (let i = 0; i < req.count; i++) {
        ids[i] = st.all(vectors[req.from + i]).map((r) => Number(r[0]));
    }
    return { us: usSince(t0), ids };
}

function searchL(req) {
    const d = new Database(req.path);
    try {
        const meta = d.prepare("SELECT metadata FROM libsql_vector_meta_shadow WHERE name = 't_idx'").raw().get()[0];
        const rec = Buffer.alloc(9);
        rec[0] = 9;
        rec.writeBigUInt64LE(BigInt(req.value), 1);
        const blob = Buffer.concat([Buffer.from(meta), rec]);
        d.prepare("UPDATE libsql_vector_meta_shadow SET metadata = unhex(?) WHERE name = 't_idx'")
            .run(blob.toString('hex'));
    } finally {
        d.close();
    }
    return { ok: true };
}

function handle(req) {
    switch (req.cmd) {
    case 'version': return { version: version() };
    case 'load': return load(req);
    case 'build': return build(req);
    case 'open': return open(req);
    case 'queries': return queries(req);
    case 'search_l': return searchL(req);
    case 'close': if (db) { db.close(); db = null; } return { ok: true };
    default: throw new Error(`unknown cmd ${req.cmd}`);
    }
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
    if (line.trim() === '') continue;
    let out;
    try {
        out = handle(JSON.parse(line));
    } catch (e) {
        out = { error: String(e && e.message ? e.message : e) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
}
if (db) db.close();
